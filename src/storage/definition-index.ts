/**
 * Definitions keyed for applying changes (a journal's replay, the memory engine's store): maps keep their
 * first insertion order, so the lists come back in declaration order. Keys: vhost + name for exchanges and
 * queues; a binding is its own key (its arguments as stored JSON included).
 */
import type { BindingDocument, NamedDocument, StoredDefinitionChange, StoredDefinitions } from './meta-store.js';

function nameKey(vhost: string, name: string): string {
  return `${vhost}\u0000${name}`;
}

function bindingKey(b: BindingDocument): string {
  return [b.vhost, b.source, b.destinationType, b.destination, b.routingKey, JSON.stringify(b.arguments)].join('\u0000');
}

export class DefinitionIndex {
  readonly exchanges = new Map<string, NamedDocument>();
  readonly queues = new Map<string, NamedDocument>();
  readonly bindings = new Map<string, BindingDocument>();
  policies: unknown[];
  vhosts: string[];
  users: unknown[];
  permissions: unknown[];

  constructor(defs: StoredDefinitions) {
    for (const e of defs.exchanges) this.exchanges.set(nameKey(e.vhost, e.name), e);
    for (const q of defs.queues) this.queues.set(nameKey(q.vhost, q.name), q);
    for (const b of defs.bindings) this.bindings.set(bindingKey(b), b);
    this.policies = defs.policies;
    this.vhosts = defs.vhosts;
    this.users = defs.users;
    this.permissions = defs.permissions;
  }

  /** Applies one change (a parsed journal record may be anything: one of unknown shape throws). */
  apply(change: StoredDefinitionChange): void {
    const raw = change as any;
    if (raw.put === 'queue') this.queues.set(nameKey(raw.value.vhost, raw.value.name), raw.value);
    else if (raw.put === 'exchange') this.exchanges.set(nameKey(raw.value.vhost, raw.value.name), raw.value);
    else if (raw.put === 'binding') this.bindings.set(bindingKey(raw.value), raw.value);
    else if (raw.del === 'queue') this.queues.delete(nameKey(raw.vhost, raw.name));
    else if (raw.del === 'exchange') this.exchanges.delete(nameKey(raw.vhost, raw.name));
    else if (raw.del === 'binding') this.bindings.delete(bindingKey(raw.value));
    else if (raw.set === 'vhosts' && Array.isArray(raw.value)) this.vhosts = raw.value;
    else if (raw.set === 'users' && Array.isArray(raw.users) && Array.isArray(raw.permissions)) {
      this.users = raw.users;
      this.permissions = raw.permissions;
    } else if (raw.set === 'policies' && Array.isArray(raw.value)) this.policies = raw.value;
    else throw new Error(`unknown definitions change ${JSON.stringify(raw).slice(0, 200)}`);
  }

  definitions(): StoredDefinitions {
    return {
      exchanges: [...this.exchanges.values()],
      queues: [...this.queues.values()],
      bindings: [...this.bindings.values()],
      policies: this.policies,
      vhosts: this.vhosts,
      users: this.users,
      permissions: this.permissions,
    };
  }
}

/** How many definitions a set holds (a journal may grow to that many records before a new snapshot). */
export function definitionCount(defs: StoredDefinitions): number {
  return defs.exchanges.length + defs.queues.length + defs.bindings.length + defs.policies.length + defs.vhosts.length + defs.users.length;
}
