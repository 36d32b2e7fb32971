import type { Binding, Destination, ExchangeRouter, RoutingInput } from './exchange.js';

/**
 * topic: binding keys are dot-separated words where `*` matches exactly one word and `#` matches zero or
 * more words. Patterns are compiled to word arrays at bind time; results per routing key are cached in a
 * bounded map that any bind or unbind clears. Empty words ("a..b", ".a", "") are words like any other.
 */
const ROUTE_CACHE_MAX_KEYS = 4096;

interface CompiledBinding {
  readonly binding: Binding;
  readonly words: readonly string[];
}

export function topicMatches(pattern: readonly string[], words: readonly string[]): boolean {
  return matchFrom(pattern, 0, words, 0);
}

function matchFrom(p: readonly string[], pi: number, w: readonly string[], wi: number): boolean {
  while (pi < p.length) {
    const token = p[pi]!;
    if (token === '#') {
      // collapse consecutive '#'
      while (pi + 1 < p.length && p[pi + 1] === '#') pi++;
      if (pi === p.length - 1) return true;
      for (let k = wi; k <= w.length; k++) if (matchFrom(p, pi + 1, w, k)) return true;
      return false;
    }
    if (wi >= w.length) return false;
    if (token !== '*' && token !== w[wi]) return false;
    pi++;
    wi++;
  }
  return wi === w.length;
}

export class TopicRouter implements ExchangeRouter {
  private readonly compiled: CompiledBinding[] = [];
  private readonly cache = new Map<string, Destination[]>();

  add(binding: Binding): void {
    this.compiled.push({ binding, words: binding.routingKey.split('.') });
    this.cache.clear();
  }

  remove(binding: Binding): void {
    const i = this.compiled.findIndex((c) => c.binding === binding);
    if (i >= 0) this.compiled.splice(i, 1);
    this.cache.clear();
  }

  route(input: RoutingInput, out: Destination[]): void {
    let hit = this.cache.get(input.routingKey);
    if (hit === undefined) {
      hit = this.compute(input.routingKey);
      if (this.cache.size >= ROUTE_CACHE_MAX_KEYS) this.cache.clear();
      this.cache.set(input.routingKey, hit);
    }
    for (let i = 0; i < hit.length; i++) out.push(hit[i]!);
  }

  private compute(routingKey: string): Destination[] {
    const words = routingKey.split('.');
    const result: Destination[] = [];
    for (const c of this.compiled) {
      if (!result.includes(c.binding.destination) && topicMatches(c.words, words)) result.push(c.binding.destination);
    }
    return result;
  }
}
