import type { Binding, Destination, ExchangeRouter, RoutingInput } from './exchange.js';

/** fanout: every bound destination receives every message; keys are ignored. */
export class FanoutRouter implements ExchangeRouter {
  private readonly destinations: Destination[] = [];
  private readonly counts = new Map<Destination, number>();

  add(binding: Binding): void {
    const n = this.counts.get(binding.destination) ?? 0;
    this.counts.set(binding.destination, n + 1);
    if (n === 0) this.destinations.push(binding.destination);
  }

  remove(binding: Binding): void {
    const n = this.counts.get(binding.destination) ?? 0;
    if (n <= 1) {
      this.counts.delete(binding.destination);
      const i = this.destinations.indexOf(binding.destination);
      if (i >= 0) this.destinations.splice(i, 1);
    } else {
      this.counts.set(binding.destination, n - 1);
    }
  }

  route(_input: RoutingInput, out: Destination[]): void {
    const list = this.destinations;
    for (let i = 0; i < list.length; i++) out.push(list[i]!);
  }
}
