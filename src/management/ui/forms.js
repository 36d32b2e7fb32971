// Forms shared by the queue and exchange pages: publishing a message through an exchange's publish route.
import { h, replace } from './dom.js';

let fieldIds = 0;

/** a labelled form control */
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++fieldIds}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * `name=value` lines as [name, value] pairs, both trimmed (blank lines skipped); throws `<what> line N is not
 * <shape>` for a line without a name before '='.
 */
export function nameValueLines(text, what, shape) {
  const pairs = [];
  text.split('\n').forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '') return;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new Error(`${what} line ${i + 1} is not ${shape}`);
    pairs.push([trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim()]);
  });
  return pairs;
}

/** `name=value` lines as an object (blank lines skipped); throws naming a line without '=' */
export function parseHeaders(text) {
  return Object.fromEntries(nameValueLines(text, 'header', 'name=value'));
}

/**
 * A dangerous action behind an in-page confirmation: the `label` button opens `question` with
 * "Yes, <yes>" and Cancel; `run()` does it. On success `succeeded` (if given) is shown and `after()` runs; on
 * a failure "<failed>: <message>". `hint` is a line above the button.
 */
export function confirmForm({ label, yes: yesText, question, hint, run, succeeded, failed, after }) {
  const status = h('p', { class: 'form-status', role: 'status' });
  const confirmBox = h('div', { class: 'confirm', hidden: true });
  const start = h('button', { type: 'button', class: 'danger' }, label);
  const yes = h('button', { type: 'button', class: 'danger' }, `Yes, ${yesText}`);
  const no = h('button', { type: 'button' }, 'Cancel');
  replace(confirmBox, h('p', {}, question), h('div', { class: 'actions' }, yes, no));
  const close = () => {
    confirmBox.hidden = true;
    start.hidden = false;
  };
  start.addEventListener('click', () => {
    confirmBox.hidden = false;
    start.hidden = true;
    status.textContent = '';
    no.focus();
  });
  no.addEventListener('click', close);
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await run();
      if (succeeded !== undefined) {
        status.className = 'form-status ok';
        status.textContent = succeeded;
      }
      after?.();
    } catch (err) {
      status.className = 'form-status error';
      status.textContent = `${failed}: ${err.message}`;
    } finally {
      yes.disabled = false;
      close();
    }
  });
  return h('div', { class: 'action-form' }, hint ? h('p', { class: 'hint' }, hint) : null, h('div', { class: 'actions' }, start), confirmBox, status);
}

/**
 * Publish a message: POST /api/exchanges/:vhost/:exchange/publish. With `routingKey` the key is fixed (a
 * queue's page publishes to the queue through the default exchange); without it the form asks for one.
 */
export function publishForm({ api, vhost, exchange, routingKey, onPublished }) {
  const key = h('input', { name: 'routing_key', value: routingKey ?? '', readonly: routingKey !== undefined });
  const mode = h(
    'select',
    { name: 'delivery_mode' },
    h('option', { value: '1' }, '1 - Non-persistent'),
    h('option', { value: '2', selected: true }, '2 - Persistent'),
  );
  const contentType = h('input', { name: 'content_type', placeholder: 'e.g. text/plain' });
  const headers = h('textarea', { name: 'headers', rows: 2, placeholder: 'name=value, one a line' });
  const payload = h('textarea', { name: 'payload', rows: 4, required: true });
  const status = h('p', { class: 'form-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Publish message');
  const form = h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Publish message',
      onsubmit: async (event) => {
        event.preventDefault();
        let properties;
        try {
          properties = { delivery_mode: Number(mode.value) };
          const parsed = parseHeaders(headers.value);
          if (Object.keys(parsed).length > 0) properties.headers = parsed;
          if (contentType.value.trim() !== '') properties.content_type = contentType.value.trim();
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = err.message;
          return;
        }
        button.disabled = true;
        status.className = 'form-status';
        status.textContent = 'Publishing…';
        try {
          const reply = await api.call(
            'POST',
            '/api/exchanges/:vhost/:name/publish',
            { vhost, name: exchange },
            {
              properties,
              routing_key: key.value,
              payload: payload.value,
              payload_encoding: 'string',
            },
          );
          const routed = reply?.routed !== false;
          status.className = routed ? 'form-status ok' : 'form-status warn';
          status.textContent = routed ? 'Message published.' : 'Message published, but not routed.';
          onPublished?.();
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = `Publish failed: ${err.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    field('Routing key', key),
    h('div', { class: 'field-row' }, field('Delivery mode', mode), field('Content type', contentType)),
    field('Headers', headers),
    field('Payload', payload),
    h('div', { class: 'actions' }, button),
    status,
  );
  return form;
}
