export * from '../protocol/amqp/field-table.js';
