// Forms that change the topology, as a RabbitMQ operator expects them: add a queue, add an exchange, bind
// (from an exchange's page or a queue's page) and delete, through the management API's own routes
// (PUT/DELETE /api/queues/..., /api/exchanges/..., POST/DELETE /api/bindings/...). Every request goes out
// as JSON from the dashboard's own origin, which is what the API's CSRF guard (request-guard.ts) accepts.
import { h, replace } from './dom.js';
import { confirmForm, field, nameValueLines } from './forms.js';

/** Queue types the broker declares (x-queue-type). */
export const QUEUE_TYPES = ['classic', 'quorum'];
/** Exchange types the broker declares, the delayed-message plugin's included. */
export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers', 'x-delayed-message'];

/**
 * `name = value` lines as an arguments object (blank lines skipped). A value that reads as JSON (a number,
 * true/false, a "quoted string", an object or list) is that value; anything else is a string, as typed.
 * Throws naming a line without '='.
 */
export function parseArguments(text) {
  const args = {};
  for (const [key, raw] of nameValueLines(text, 'argument', 'name = value')) {
    let value = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    args[key] = value;
  }
  return args;
}

function checkbox(name, checked) {
  return h('input', { type: 'checkbox', name, checked, class: 'check' });
}

let checkIds = 0;

function checkField(label, control) {
  if (!control.id) control.id = `check-${++checkIds}`;
  return h('div', { class: 'field check-field' }, control, h('label', { for: control.id }, label));
}

/** a select of the vhosts the user may use (GET /api/vhosts), `/` first; falls back to a text input */
function vhostSelect(api) {
  const select = h('select', { name: 'vhost' }, h('option', { value: '/' }, '/'));
  api
    .get('/api/vhosts')
    .then((list) => {
      const names = (Array.isArray(list) ? list : []).map((v) => v.name).filter((n) => typeof n === 'string');
      if (names.length === 0) return;
      const current = select.value;
      replace(
        select,
        names.sort((a, b) => (a === '/' ? -1 : b === '/' ? 1 : a.localeCompare(b))).map((n) => h('option', { value: n, selected: n === current }, n)),
      );
    })
    .catch(() => {});
  return select;
}

/** the shared submit handling: disable, run, show the outcome in `status` */
async function submit(button, status, work, done) {
  button.disabled = true;
  status.className = 'form-status';
  status.textContent = 'Working…';
  try {
    const message = await work();
    status.className = 'form-status ok';
    status.textContent = message;
    done?.();
  } catch (err) {
    status.className = 'form-status error';
    status.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

/** optional number field: '' → undefined, else a whole number ≥ 0 (throws naming the field) */
function wholeNumber(label, input) {
  const text = input.value.trim();
  if (text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${label} must be a whole number`);
  return n;
}

/** "Add a queue": PUT /api/queues/:vhost/:name { durable, auto_delete, arguments } */
export function addQueueForm({ api, onCreated }) {
  const vhost = vhostSelect(api);
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const type = h(
    'select',
    { name: 'type' },
    QUEUE_TYPES.map((t) => h('option', { value: t }, t)),
  );
  const durable = checkbox('durable', true);
  const autoDelete = checkbox('auto_delete', false);
  const ttl = h('input', { name: 'x-message-ttl', type: 'number', min: 0, placeholder: 'ms' });
  const expires = h('input', { name: 'x-expires', type: 'number', min: 1, placeholder: 'ms' });
  const maxLength = h('input', { name: 'x-max-length', type: 'number', min: 0, placeholder: 'messages' });
  const maxBytes = h('input', { name: 'x-max-length-bytes', type: 'number', min: 0, placeholder: 'bytes' });
  const dlx = h('input', { name: 'x-dead-letter-exchange', autocomplete: 'off' });
  const dlk = h('input', { name: 'x-dead-letter-routing-key', autocomplete: 'off' });
  const more = h('textarea', { name: 'arguments', rows: 2, placeholder: 'x-overflow = reject-publish' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Add queue');
  return h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Add a queue',
      onsubmit: (event) => {
        event.preventDefault();
        submit(
          button,
          status,
          async () => {
            const queueName = name.value.trim();
            if (queueName === '') throw new Error('a queue needs a name');
            const args = parseArguments(more.value);
            if (type.value !== 'classic') args['x-queue-type'] = type.value;
            for (const [label, input, key] of [
              ['Message TTL', ttl, 'x-message-ttl'],
              ['Auto expire', expires, 'x-expires'],
              ['Max length', maxLength, 'x-max-length'],
              ['Max length bytes', maxBytes, 'x-max-length-bytes'],
            ]) {
              const n = wholeNumber(label, input);
              if (n !== undefined) args[key] = n;
            }
            if (dlx.value.trim() !== '') args['x-dead-letter-exchange'] = dlx.value.trim();
            if (dlk.value.trim() !== '') args['x-dead-letter-routing-key'] = dlk.value.trim();
            await api.call(
              'PUT',
              '/api/queues/:vhost/:name',
              { vhost: vhost.value, name: queueName },
              { durable: durable.checked, auto_delete: autoDelete.checked, arguments: args },
            );
            return `Queue '${queueName}' added.`;
          },
          onCreated,
        );
      },
    },
    h('div', { class: 'field-row' }, field('Virtual host', vhost), field('Type', type)),
    field('Name', name),
    h('div', { class: 'field-row' }, checkField('Durable', durable), checkField('Auto-delete', autoDelete)),
    h('div', { class: 'field-row' }, field('Message TTL', ttl), field('Auto expire', expires)),
    h('div', { class: 'field-row' }, field('Max length', maxLength), field('Max length bytes', maxBytes)),
    h('div', { class: 'field-row' }, field('Dead letter exchange', dlx), field('Dead letter routing key', dlk)),
    field('Arguments', more, 'name = value, one a line; numbers and true/false are typed'),
    h('div', { class: 'actions' }, button),
    status,
  );
}

/** "Add an exchange": PUT /api/exchanges/:vhost/:name { type, durable, auto_delete, internal, arguments } */
export function addExchangeForm({ api, onCreated }) {
  const vhost = vhostSelect(api);
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const type = h(
    'select',
    { name: 'type' },
    EXCHANGE_TYPES.map((t) => h('option', { value: t }, t)),
  );
  const durable = checkbox('durable', true);
  const autoDelete = checkbox('auto_delete', false);
  const internal = checkbox('internal', false);
  const alternate = h('input', { name: 'alternate-exchange', autocomplete: 'off' });
  const more = h('textarea', { name: 'arguments', rows: 2, placeholder: 'x-delayed-type = direct' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Add exchange');
  return h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Add an exchange',
      onsubmit: (event) => {
        event.preventDefault();
        submit(
          button,
          status,
          async () => {
            const exchangeName = name.value.trim();
            if (exchangeName === '') throw new Error('an exchange needs a name');
            const args = parseArguments(more.value);
            if (alternate.value.trim() !== '') args['alternate-exchange'] = alternate.value.trim();
            await api.call(
              'PUT',
              '/api/exchanges/:vhost/:name',
              { vhost: vhost.value, name: exchangeName },
              { type: type.value, durable: durable.checked, auto_delete: autoDelete.checked, internal: internal.checked, arguments: args },
            );
            return `Exchange '${exchangeName}' added.`;
          },
          onCreated,
        );
      },
    },
    h('div', { class: 'field-row' }, field('Virtual host', vhost), field('Type', type)),
    field('Name', name),
    h('div', { class: 'field-row three' }, checkField('Durable', durable), checkField('Auto-delete', autoDelete), checkField('Internal', internal)),
    field('Alternate exchange', alternate),
    field('Arguments', more, 'name = value, one a line; numbers and true/false are typed'),
    h('div', { class: 'actions' }, button),
    status,
  );
}

/**
 * "Add binding": POST /api/bindings/:vhost/e/:source/(q|e)/:destination { routing_key, arguments }.
 * From an exchange's page (`from` fixed: the user picks a queue or exchange to bind to), or from a queue's
 * page (`to` fixed: the user names the exchange to bind from).
 */
export function addBindingForm({ api, vhost, from, to, onBound }) {
  const toKind = h('select', { name: 'destination_type' }, h('option', { value: 'q' }, 'To queue'), h('option', { value: 'e' }, 'To exchange'));
  const other = h('input', { name: from !== undefined ? 'destination' : 'source', required: true, autocomplete: 'off' });
  const key = h('input', { name: 'routing_key', autocomplete: 'off' });
  const args = h('textarea', { name: 'arguments', rows: 2, placeholder: 'x-match = all' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Bind');
  return h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Add binding',
      onsubmit: (event) => {
        event.preventDefault();
        submit(
          button,
          status,
          async () => {
            const otherName = other.value.trim();
            if (otherName === '') throw new Error(from !== undefined ? 'name the queue or exchange to bind to' : 'name the exchange to bind from');
            const kind = from !== undefined ? toKind.value : 'q';
            const source = from !== undefined ? from : otherName;
            const destination = from !== undefined ? otherName : to;
            await api.call(
              'POST',
              `/api/bindings/:vhost/e/:source/${kind}/:destination`,
              { vhost, source, destination },
              { routing_key: key.value, arguments: parseArguments(args.value) },
            );
            return `Bound '${source}' → '${destination}'.`;
          },
          onBound,
        );
      },
    },
    from !== undefined ? h('div', { class: 'field-row' }, field('Destination type', toKind), field('Destination', other)) : field('From exchange', other),
    field('Routing key', key),
    field('Arguments', args, 'name = value, one a line'),
    h('div', { class: 'actions' }, button),
    status,
  );
}

/**
 * A delete button that asks first (in the page, not a browser dialog): `what` names the object in the
 * question; `run()` deletes; `onDeleted()` runs after a success (usually: go back to the list).
 */
export function deleteForm({ label, what, warning, run, onDeleted }) {
  return confirmForm({
    label,
    yes: label.toLowerCase(),
    question: `Delete ${what}? ${warning ?? 'This cannot be undone.'}`,
    run,
    succeeded: 'Deleted.',
    failed: 'Delete failed',
    after: onDeleted,
  });
}
