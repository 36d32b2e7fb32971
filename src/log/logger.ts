/** A small levelled logger. Callers pass thunks for anything costly so a disabled level costs one compare. */
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

function defaultWriter(line: string): void {
  process.stderr.write(line + '\n');
}

export function createLogger(level: LogLevel, writer: LogWriter = defaultWriter): Logger {
  const rank = LEVEL_RANK[level];
  const emit = (lvl: LogLevel, line: LogLine): void => {
    if (LEVEL_RANK[lvl] < rank) return;
    const text = typeof line === 'function' ? line() : line;
    writer(`${new Date().toISOString()} ${lvl.padEnd(5)} ${text}`);
  };
  return {
    level,
    debug: (l) => emit('debug', l),
    info: (l) => emit('info', l),
    warn: (l) => emit('warn', l),
    error: (l) => emit('error', l),
    notice: (l) => {
      if (level !== 'silent') writer(`${new Date().toISOString()} ${'info'.padEnd(5)} ${typeof l === 'function' ? l() : l}`);
    },
    enabled: (lvl) => LEVEL_RANK[lvl] >= rank,
  };
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.prototype.hasOwnProperty.call(LEVEL_RANK, value);
}
