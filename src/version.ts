/** The Postbox version, reported by `postbox --version` and the management API's overview. */
export const POSTBOX_VERSION = '0.1.0';

/** The product name the management API reports (RabbitMQ's overview has the same field). */
export const PRODUCT_NAME = 'Postbox';
