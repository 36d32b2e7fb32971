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
import { editProperties, readIntegerLikeHeader } from '../properties.js';

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
 * The delay a message asks for, in milliseconds; 0 = route at once. As the plugin reads it: an integer of
 * any width, a string holding an integer, or a float/double/decimal truncated; absent, zero, negative or
 * other values do not delay (a released message carries its delay negated, so it is not held again).
 */
export function delayOf(message: Message): number {
  // read from the raw property list: decoding the whole headers table per publish would be garbage
  const value = readIntegerLikeHeader(message.properties, DELAY_HEADER);
  return value !== null && value > 0 ? value : 0;
}

/**
 * A held message as it leaves the exchange: its `x-delay` header set to minus the delay (a signed 32-bit
 * integer when it fits), as the plugin's swap_delay_header does, so consumers can tell it was delayed and
 * an exchange it passes on to does not hold it again.
 */
export function markReleased(message: Message, delay: number): void {
  const headers = message.headers() ?? {};
  message.setProperties(editProperties(message.properties, { ...headers, [DELAY_HEADER]: -delay }, false));
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
