/**
 * x-delayed-message: the interface of RabbitMQ's delayed-message plugin. The exchange routes by the rules
 * of an inner type named in its `x-delayed-type` argument (direct, fanout, topic or headers), so bindings
 * work as usual; a message published to it with a positive integer `x-delay` header (milliseconds) is held
 * by the exchange's DelayedStore (core/delayed/) and routed by these same rules when it is due.
 */
import { brokerError, Errors } from '../../errors/errors.js';
import type { FieldTable } from '../field-table.js';
import { EXCHANGE_TYPES, type Binding, type Destination, type ExchangeRouter, type RoutingInput } from './exchange.js';
import type { Message } from '../message.js';
import { readIntegerHeader } from '../properties.js';

export const DELAYED_EXCHANGE_TYPE = 'x-delayed-message';
/** exchange argument naming the type whose routing rules apply */
export const DELAYED_TYPE_ARGUMENT = 'x-delayed-type';
/** message header: how long to hold the message, in milliseconds */
export const DELAY_HEADER = 'x-delay';

/**
 * The inner exchange type named by the arguments of an x-delayed-message exchange. Missing or not a
 * routing type: 406, with the plugin's wording.
 */
export function delayedInnerType(args: FieldTable): string {
  const raw = args[DELAYED_TYPE_ARGUMENT];
  const type = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
  if (typeof type !== 'string' || !(EXCHANGE_TYPES as readonly string[]).includes(type)) {
    throw brokerError(Errors.PRECONDITION_FAILED, `Invalid argument, '${DELAYED_TYPE_ARGUMENT}' must be an existing exchange type`);
  }
  return type;
}

/**
 * The delay a message asks for, in milliseconds; 0 = route at once. As the plugin, only an integer header
 * value delays (any integer width); absent, zero, negative, fractional or non-numeric values do not.
 */
export function delayOf(message: Message): number {
  // read from the raw property list: decoding the whole headers table per publish would be garbage
  const value = readIntegerHeader(message.properties, DELAY_HEADER);
  return value !== null && value > 0 ? value : 0;
}

/** Routes with the inner type's router; exists so the vhost can tell which rules a binding follows. */
export class DelayedRouter implements ExchangeRouter {
  constructor(
    readonly innerType: string,
    private readonly inner: ExchangeRouter,
  ) {}

  add(binding: Binding): void {
    this.inner.add(binding);
  }

  remove(binding: Binding): void {
    this.inner.remove(binding);
  }

  route(input: RoutingInput, out: Destination[]): void {
    this.inner.route(input, out);
  }
}
