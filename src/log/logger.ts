/**
 * A small levelled logger. Callers pass thunks for anything costly so a disabled level costs one compare.
 *
 * One call is one line, whatever it contains: log lines carry what clients send (user names, vhost and
 * queue names, protocol text), and a line feed in one of them would otherwise forge a line of its own
 * (log injection). Every C0 and C1 control character, DEL and the Unicode line and paragraph separators
 * are written as escapes (`\n`, `\r`, `\t`, `\x1b`, `\u2028`), here, for every caller; a multi-line text
 * such as a stack trace becomes one line with `\n` in it. Backslashes are written as they are.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogLine = string | (() => string);

export interface Logger {
  readonly level: LogLevel;
  debug(line: LogLine): void;
  info(line: LogLine): void;
  warn(line: LogLine): void;
  error(line: LogLine): void;
  /** lifecycle lines (ready, stopped) printed at every level but silent */
  notice(line: LogLine): void;
  enabled(level: LogLevel): boolean;
}

export type LogWriter = (line: string) => void;

/** Characters that could end a log line, or rewrite the terminal showing it (ESC sequences). */
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const UNSAFE_IN_LOG_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(ch: string): string {
  const short = SHORT_ESCAPES[ch];
  if (short !== undefined) return short;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? '\\x' + code.toString(16).padStart(2, '0') : '\\u' + code.toString(16).padStart(4, '0');
}

/** `text` with every character that could break it into several lines, or drive a terminal, escaped. */
export function escapeLogText(text: string): string {
  return UNSAFE_IN_LOG.test(text) ? text.replace(UNSAFE_IN_LOG_ALL, escapeOne) : text;
}

function defaultWriter(line: string): void {
  process.stderr.write(line + '\n');
}

export function createLogger(level: LogLevel, writer: LogWriter = defaultWriter): Logger {
  const rank = LEVEL_RANK[level];
  const emit = (lvl: LogLevel, line: LogLine): void => {
    if (LEVEL_RANK[lvl] < rank) return;
    const text = typeof line === 'function' ? line() : line;
    writer(`${new Date().toISOString()} ${lvl.padEnd(5)} ${escapeLogText(text)}`);
  };
  return {
    level,
    debug: (l) => emit('debug', l),
    info: (l) => emit('info', l),
    warn: (l) => emit('warn', l),
    error: (l) => emit('error', l),
    notice: (l) => {
      if (level !== 'silent') writer(`${new Date().toISOString()} ${'info'.padEnd(5)} ${escapeLogText(typeof l === 'function' ? l() : l)}`);
    },
    enabled: (lvl) => LEVEL_RANK[lvl] >= rank,
  };
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.prototype.hasOwnProperty.call(LEVEL_RANK, value);
}
