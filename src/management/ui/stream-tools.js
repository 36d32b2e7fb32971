// The Kafka tools of the topic and consumer-group pages: the message browser, producing a test record, and
// resetting a group's offsets (with an in-page confirmation). Each is a function returning its form.
import { badge, count, h, replace, time } from './dom.js';
import { field, parseHeaders } from './forms.js';

/** records one browse asks for by default, and the most the form offers (the API clamps to its own limit) */
const DEFAULT_BROWSE_RECORDS = 20;
const MAX_BROWSE_RECORDS = 500;
/** bytes of a binary value shown as hex */
const HEX_PREVIEW_BYTES = 64;

/** '2026-12-07T15:04' (a datetime-local input's value) as ms since the epoch, in local time; NaN when empty */
function localTime(value) {
  return value === '' ? Number.NaN : new Date(value).getTime();
}

function hexOf(base64) {
  let binary;
  try {
    binary = atob(base64);
  } catch {
    return '';
  }
  const shown = Math.min(binary.length, HEX_PREVIEW_BYTES);
  const parts = [];
  for (let i = 0; i < shown; i++) parts.push(binary.charCodeAt(i).toString(16).padStart(2, '0'));
  return parts.join(' ') + (binary.length > shown ? ' …' : '');
}

/** a key, value or header value preview from the API: text, pretty JSON, or hex of binary data */
export function previewNode(preview, { block = false } = {}) {
  if (preview === null || preview === undefined) return h('span', { class: 'muted' }, 'null');
  const note = preview.truncated
    ? h(
        'small',
        { class: 'hint' },
        ` (first ${count(preview.encoding === 'base64' ? atob(preview.data).length : new TextEncoder().encode(preview.data).length)} of ${count(preview.size)} bytes)`,
      )
    : null;
  if (preview.encoding === 'base64') return h('span', { class: 'binary' }, badge('binary', 'muted'), ' ', h('code', {}, hexOf(preview.data)), note);
  if (block || preview.encoding === 'json')
    return h('div', {}, preview.encoding === 'json' ? badge('JSON', 'good') : null, h('pre', { class: 'payload' }, preview.data), note);
  return h('span', {}, h('code', {}, preview.data), note);
}

function headersNode(headers) {
  if (!Array.isArray(headers) || headers.length === 0) return '–';
  return h(
    'ul',
    { class: 'record-headers' },
    headers.map((hd) => h('li', {}, h('strong', {}, hd.key), ': ', previewNode(hd.value))),
  );
}

/** Message browser: GET /api/streams/topics/:name/messages with the form's position, shown as a table of records. */
export function browseForm(api, name, partitionCount) {
  const partition = h('select', { name: 'partition' });
  const from = h(
    'select',
    { name: 'from' },
    h('option', { value: 'newest', selected: true }, 'Newest'),
    h('option', { value: 'earliest' }, 'Earliest'),
    h('option', { value: 'offset' }, 'Offset'),
    h('option', { value: 'timestamp' }, 'Time'),
  );
  const offset = h('input', { name: 'offset', type: 'number', min: 0, value: '0' });
  const at = h('input', { name: 'timestamp', type: 'datetime-local', step: 1 });
  const max = h('input', { name: 'max', type: 'number', min: 1, max: MAX_BROWSE_RECORDS, value: String(DEFAULT_BROWSE_RECORDS) });
  const offsetField = field('Start offset', offset);
  const timeField = field('From time', at);
  const status = h('p', { class: 'form-status', role: 'status' });
  const results = h('div', { class: 'records' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Browse');
  const showFields = () => {
    offsetField.hidden = from.value !== 'offset';
    timeField.hidden = from.value !== 'timestamp';
  };
  from.addEventListener('change', showFields);
  setPartitions(partitionCount);
  showFields();

  function setPartitions(n) {
    const chosen = partition.value;
    replace(
      partition,
      h('option', { value: 'all' }, 'All partitions'),
      Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, `Partition ${i}`)),
    );
    if (chosen !== '' && [...partition.options].some((o) => o.value === chosen)) partition.value = chosen;
  }

  const form = h(
    'form',
    {
      class: 'action-form browse-form',
      'aria-label': 'Browse messages',
      onsubmit: async (event) => {
        event.preventDefault();
        const query = new URLSearchParams({
          partition: partition.value,
          from: from.value,
          max: String(Math.min(Math.max(Number(max.value) || 1, 1), MAX_BROWSE_RECORDS)),
        });
        if (from.value === 'offset') query.set('offset', String(Math.max(0, Math.floor(Number(offset.value) || 0))));
        if (from.value === 'timestamp') {
          const ms = localTime(at.value);
          if (!Number.isFinite(ms)) {
            status.className = 'form-status error';
            status.textContent = 'Choose a time to start from.';
            return;
          }
          query.set('timestamp', String(ms));
        }
        button.disabled = true;
        status.className = 'form-status';
        status.textContent = 'Reading…';
        try {
          const page = await api.send('GET', `/api/streams/topics/${encodeURIComponent(name)}/messages?${query}`);
          const records = page?.records ?? [];
          status.className = 'form-status';
          status.textContent =
            records.length === 0
              ? 'No records at that position.'
              : `${records.length} ${records.length === 1 ? 'record' : 'records'}${page.limited ? ' (more follow: a limit stopped the read)' : ''}.`;
          replace(results, records.length === 0 ? null : recordsTable(records));
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = `Browse failed: ${err.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'field-row four' }, field('Partition', partition), field('Start at', from), offsetField, timeField, field('Max records', max)),
    h('div', { class: 'actions' }, button),
    status,
    results,
  );
  return { element: form, setPartitions };
}

function recordsTable(records) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'data records-table', 'aria-label': 'Records' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Partition', 'Offset', 'Timestamp', 'Key', 'Headers', 'Value'].map((c) =>
            h('th', { scope: 'col', class: c === 'Partition' || c === 'Offset' ? 'numeric' : undefined }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        records.map((r) =>
          h(
            'tr',
            { dataset: { offset: String(r.offset), partition: String(r.partition) } },
            h('td', { class: 'numeric' }, String(r.partition)),
            h('td', { class: 'numeric' }, count(r.offset)),
            h('td', {}, time(r.timestamp), r.timestamp_type === 'LogAppendTime' ? h('small', { class: 'hint' }, ' (log append)') : null),
            h('td', {}, previewNode(r.key)),
            h('td', {}, headersNode(r.headers)),
            h('td', { class: 'record-value' }, previewNode(r.value, { block: true })),
          ),
        ),
      ),
    ),
  );
}

/** Produce a test record: POST /api/streams/topics/:name/messages */
export function produceForm(api, name, partitionCount, onProduced) {
  const partition = h('select', { name: 'partition' });
  const key = h('input', { name: 'key', placeholder: 'none' });
  const headers = h('textarea', { name: 'headers', rows: 2, placeholder: 'name=value, one a line' });
  const value = h('textarea', { name: 'value', rows: 4 });
  const status = h('p', { class: 'form-status', role: 'status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Produce record');
  function setPartitions(n) {
    const chosen = partition.value;
    replace(
      partition,
      h('option', { value: '' }, 'By key (or round robin)'),
      Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, `Partition ${i}`)),
    );
    if ([...partition.options].some((o) => o.value === chosen)) partition.value = chosen;
  }
  setPartitions(partitionCount);
  const form = h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Produce record',
      onsubmit: async (event) => {
        event.preventDefault();
        let parsed;
        try {
          parsed = parseHeaders(headers.value);
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = err.message;
          return;
        }
        button.disabled = true;
        status.className = 'form-status';
        status.textContent = 'Producing…';
        try {
          const body = { value: value.value, headers: parsed };
          if (key.value !== '') body.key = key.value;
          if (partition.value !== '') body.partition = Number(partition.value);
          const reply = await api.send('POST', `/api/streams/topics/${encodeURIComponent(name)}/messages`, body);
          status.className = 'form-status ok';
          status.textContent = `Produced to partition ${reply.partition} at offset ${reply.offset}.`;
          onProduced?.();
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = `Produce failed: ${err.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'field-row' }, field('Key', key), field('Partition', partition)),
    field('Headers', headers),
    field('Value', value),
    h('div', { class: 'actions' }, button),
    status,
  );
  return { element: form, setPartitions };
}

/** Reset a group's offsets: a dry run shows the new offsets; applying them asks for confirmation first. */
export function resetForm(api, id, onReset) {
  const topic = h('select', { name: 'topic' }, h('option', { value: '' }, 'Every topic with committed offsets'));
  const to = h(
    'select',
    { name: 'to' },
    h('option', { value: 'earliest' }, 'Earliest'),
    h('option', { value: 'latest', selected: true }, 'Latest'),
    h('option', { value: 'timestamp' }, 'Time'),
    h('option', { value: 'offset' }, 'Offset'),
  );
  const offset = h('input', { name: 'offset', type: 'number', min: 0, value: '0' });
  const at = h('input', { name: 'timestamp', type: 'datetime-local', step: 1 });
  const offsetField = field('Offset', offset);
  const timeField = field('Time', at);
  const showFields = () => {
    offsetField.hidden = to.value !== 'offset';
    timeField.hidden = to.value !== 'timestamp';
  };
  to.addEventListener('change', showFields);
  showFields();
  const status = h('p', { class: 'form-status', role: 'status' });
  const plan = h('div', { 'aria-label': 'New offsets' });
  const preview = h('button', { type: 'button' }, 'Preview');
  const start = h('button', { type: 'button', class: 'danger' }, 'Reset offsets');
  const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, reset');
  const no = h('button', { type: 'button' }, 'Cancel');
  const confirmText = h('p', {});
  const confirmBox = h('div', { class: 'confirm', hidden: true }, confirmText, h('div', { class: 'actions' }, yes, no));

  function body(dryRun) {
    const b = { to: to.value, dry_run: dryRun };
    if (topic.value !== '') b.topic = topic.value;
    if (to.value === 'offset') b.offset = Math.max(0, Math.floor(Number(offset.value) || 0));
    if (to.value === 'timestamp') {
      const ms = localTime(at.value);
      if (!Number.isFinite(ms)) throw new Error('Choose a time to reset to.');
      b.timestamp = ms;
    }
    return b;
  }

  async function send(dryRun) {
    let request;
    try {
      request = body(dryRun);
    } catch (err) {
      status.className = 'form-status error';
      status.textContent = err.message;
      return;
    }
    status.className = 'form-status';
    status.textContent = dryRun ? 'Working out the new offsets…' : 'Resetting…';
    try {
      const reply = await api.send('POST', `/api/streams/groups/${encodeURIComponent(id)}/reset-offsets`, request);
      replace(plan, planTable(reply.offsets ?? []));
      status.className = dryRun ? 'form-status' : 'form-status ok';
      status.textContent = dryRun
        ? 'Preview only: nothing changed yet.'
        : `Offsets reset on ${reply.offsets.length} ${reply.offsets.length === 1 ? 'partition' : 'partitions'}.`;
      if (!dryRun) onReset?.();
    } catch (err) {
      status.className = 'form-status error';
      status.textContent = `Reset failed: ${err.message}`;
    }
  }

  preview.addEventListener('click', () => send(true));
  start.addEventListener('click', () => {
    const where = topic.value === '' ? 'every topic the group has offsets for' : `topic '${topic.value}'`;
    const target =
      to.value === 'offset' ? `offset ${offset.value}` : to.value === 'timestamp' ? `the time ${at.value || '(none chosen)'}` : `the ${to.value} offsets`;
    confirmText.textContent = `Move the committed offsets of '${id}' on ${where} to ${target}? Its consumers will read from there when they rejoin.`;
    confirmBox.hidden = false;
    start.hidden = true;
    no.focus();
  });
  no.addEventListener('click', () => {
    confirmBox.hidden = true;
    start.hidden = false;
  });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await send(false);
    } finally {
      yes.disabled = false;
      confirmBox.hidden = true;
      start.hidden = false;
    }
  });

  /** the topics to offer, and whether the group has members (the broker refuses a reset then) */
  function update(topics, members) {
    const chosen = topic.value;
    replace(
      topic,
      h('option', { value: '' }, 'Every topic with committed offsets'),
      topics.map((t) => h('option', { value: t }, t)),
    );
    if ([...topic.options].some((o) => o.value === chosen)) topic.value = chosen;
    membersNote.hidden = members === 0;
  }
  const membersNote = h(
    'p',
    { class: 'hint warn-note', hidden: true },
    'The group has members: the broker refuses a reset until they leave (as kafka-consumer-groups does).',
  );

  const element = h(
    'form',
    { class: 'action-form', 'aria-label': 'Reset offsets', onsubmit: (e) => e.preventDefault() },
    membersNote,
    h('div', { class: 'field-row' }, field('Topic', topic), field('Reset to', to), offsetField, timeField),
    h('div', { class: 'actions' }, preview, start),
    confirmBox,
    status,
    plan,
  );
  return { element, update };
}

function planTable(offsets) {
  return h(
    'table',
    { class: 'data', 'aria-label': 'New offsets' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Topic', 'Partition', 'Committed', 'New offset'].map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      offsets.map((o) =>
        h(
          'tr',
          {},
          h('td', {}, o.topic),
          h('td', { class: 'numeric' }, String(o.partition)),
          h('td', { class: 'numeric' }, count(o.previous_offset)),
          h('td', { class: 'numeric' }, count(o.offset)),
        ),
      ),
    ),
  );
}
