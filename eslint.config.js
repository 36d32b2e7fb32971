// Lint: the layering of ../shared/ARCHITECTURE.md as import rules, and a few correctness rules.
//
//   protocol/, management/  →  core/  →  storage/  →  format/  →  util/, log/, errors/
//
// format/ holds byte layouts several layers share (Kafka record batches: storage writes them, core checks
// and walks them, the adapters read them): pure functions over bytes, importing only util/ (and npm
// codecs), so storage, core and the adapters may all import it.
// Nothing imports protocol/ or management/ but the composition root (broker.ts), the CLI, and the AMQP client
// (client/amqp: the generated codecs and the frame parser only, so that it shares no broker state); an adapter
// reaches storage only through core entry points (VirtualHost.publish, core/stream/append.ts, Partition
// readSlice, BrokerCore.whenDurable); core/ reaches storage only through the store interfaces (storage/stores.ts)
// and the engine it is handed, with no file I/O of its own; storage knows nothing of routing, protocols or the
// core model; util/, log/ and errors/ import nothing of the broker. config/ is the settings table every layer
// may read.
import tseslint from 'typescript-eslint';

/** An import rule forbidding `groups` (path globs relative to the importing file's tree), type imports included. */
function forbid(groups, why) {
  return ['error', { patterns: [{ group: groups, message: why }] }];
}

const ABOVE_CORE = ['**/protocol/**', '**/management/**', '**/cli/**', '**/client/**', '**/broker.js', '**/index.js'];

/** What core/ (tests excepted) may import of the layers around it: of storage/, the store interfaces only. */
const CORE_STORAGE_SEAM = [
  { group: ABOVE_CORE, message: 'core never knows the protocols, the management API or the process around it (ARCHITECTURE.md layering)' },
  {
    regex: '/storage/(?!stores\\.js$)',
    message: 'of storage/ the core imports storage/stores.js only: it reaches stores through the StorageEngine it is handed (docs/architecture.md)',
  },
];
/** File I/O is the storage engine's: the core keeps no files of its own. */
const CORE_NO_FILES = ['fs', 'node:fs', 'fs/promises', 'node:fs/promises'].map((name) => ({
  name,
  message: 'the core keeps no files of its own: storage goes through its StorageEngine (storage/stores.ts)',
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', 'src/management/ui/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-duplicate-case': 'error',
      'no-self-assign': 'error',
      'no-unsafe-finally': 'error',
      'no-unreachable': 'error',
      'no-constant-binary-expression': 'error',
      'no-cond-assign': ['error', 'except-parens'],
      'no-fallthrough': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/no-unused-vars': 'off', // tsc's noUnusedLocals does it
    },
  },
  {
    files: ['src/protocol/**/*.ts', 'src/management/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/storage/**'], 'an adapter reaches storage through core entry points (ARCHITECTURE.md layering)'),
    },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/storage/**', '**/management/**', '**/cli/**', '**/client/**'],
        'a protocol adapter talks to core only (ARCHITECTURE.md layering)',
      ),
    },
  },
  {
    // the AMQP client talks to a broker over a socket: of the broker it shares the codecs and nothing else
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/storage/**', '**/management/**', '**/cli/**', '**/broker.js'], message: 'the AMQP client shares no broker state (eslint.config.js)' },
            {
              regex: '/protocol/(?!amqp/generated/spec\\.js$|amqp/frame-parser\\.js$)',
              message: 'of protocol/ the AMQP client imports the generated codecs and the frame parser only',
            },
            { regex: '/core/(?!field-table\\.js$)', message: 'of core/ the AMQP client imports the field-table codec only' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(ABOVE_CORE, 'core never knows the protocols, the management API or the process around it (ARCHITECTURE.md layering)'),
    },
  },
  {
    // the store seam (storage/stores.ts): the core reaches storage only through the engine it is handed
    // (queue stores, partition logs, the metadata store with the topic catalogue), never an engine's own
    // modules, and does no file I/O of its own for storage (tests may build an engine to run the core over)
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: CORE_NO_FILES, patterns: CORE_STORAGE_SEAM }],
    },
  },
  {
    // the disk alarm reads the free space of the data directory's file system (statfs): monitoring, not storage
    files: ['src/core/alarms.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: CORE_STORAGE_SEAM }],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [...ABOVE_CORE, '**/core/**'],
        'storage knows nothing of the core model, routing or protocols (ARCHITECTURE.md layering)',
      ),
    },
  },
  {
    files: ['src/format/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [...ABOVE_CORE, '**/core/**', '**/storage/**', '**/config/**', '**/log/**', '**/errors/**'],
        'format/ is byte layouts over util/ only (ARCHITECTURE.md layering)',
      ),
    },
  },
  {
    files: ['src/util/**/*.ts', 'src/log/**/*.ts', 'src/errors/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [...ABOVE_CORE, '**/core/**', '**/storage/**', '**/format/**', '**/config/**'],
        'util/, log/ and errors/ are the bottom layer (ARCHITECTURE.md layering)',
      ),
    },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [...ABOVE_CORE, '**/core/**'],
        'config/ is read by every layer, so it imports none above the bottom (ARCHITECTURE.md layering)',
      ),
    },
  },
);
