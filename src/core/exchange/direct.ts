import type { Binding, Destination, ExchangeRouter, RoutingInput } from './exchange.js';

interface KeyEntry {
  readonly destinations: Destination[];
  /** bindings per destination (same key and destination may be bound with different arguments) */
  readonly counts: number[];
}

/** direct: a destination receives messages whose routing key equals its binding key. */
export class DirectRouter implements ExchangeRouter {
  private readonly byKey = new Map<string, KeyEntry>();

  add(binding: Binding): void {
    let entry = this.byKey.get(binding.routingKey);
    if (entry === undefined) {
      entry = { destinations: [], counts: [] };
      this.byKey.set(binding.routingKey, entry);
    }
    const i = entry.destinations.indexOf(binding.destination);
    if (i >= 0) entry.counts[i]!++;
    else {
      entry.destinations.push(binding.destination);
      entry.counts.push(1);
    }
  }

  remove(binding: Binding): void {
    const entry = this.byKey.get(binding.routingKey);
    if (entry === undefined) return;
    const i = entry.destinations.indexOf(binding.destination);
    if (i < 0) return;
    if (--entry.counts[i]! > 0) return;
    entry.destinations.splice(i, 1);
    entry.counts.splice(i, 1);
    if (entry.destinations.length === 0) this.byKey.delete(binding.routingKey);
  }

  route(input: RoutingInput, out: Destination[]): void {
    const entry = this.byKey.get(input.routingKey);
    if (entry === undefined) return;
    const list = entry.destinations;
    for (let i = 0; i < list.length; i++) out.push(list[i]!);
  }
}
