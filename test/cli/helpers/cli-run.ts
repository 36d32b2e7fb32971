/**
 * Running the compiled `postbox` CLI as a child process, as a user would, against a test broker, and
 * reading its table output back by column.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI_PATH } from '../../helpers/process.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where the CLI should find the broker. */
export interface CliTarget {
  readonly httpPort: number;
}

/** Generous guard so a hung CLI fails the test instead of the whole run (not a timing assertion). */
const CLI_GUARD_MS = 60_000;

/** Run `postbox <args>` (async: the test broker runs in this process and must keep serving). */
export function runCli(args: readonly string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('POSTBOX_')) delete env[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', env, timeout: CLI_GUARD_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `arg` quoted for /bin/sh. */
function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Run `postbox <args> --host 127.0.0.1 --http-port <broker's>` with a terminal as its stdout and stderr, as a
 * user at a shell would: util-linux `script` gives it a pseudo-terminal, so progress bars are drawn. What the
 * terminal showed comes back as `stdout` (both streams, merged as on a screen, "\n" written as "\r\n").
 */
export function cliInTerminal(target: CliTarget, ...args: string[]): Promise<CliResult> {
  const command = [process.execPath, CLI_PATH, ...args, '--host', '127.0.0.1', '--http-port', String(target.httpPort)].map(shellQuote).join(' ');
  const env: Record<string, string | undefined> = { ...process.env, TERM: 'dumb' };
  for (const name of Object.keys(env)) if (name.startsWith('POSTBOX_')) delete env[name];
  return new Promise((resolve) => {
    execFile(
      'script',
      ['--quiet', '--return', '--command', command, '/dev/null'],
      { encoding: 'utf8', env, timeout: CLI_GUARD_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Run `postbox <args> --host 127.0.0.1 --http-port <broker's>`. */
export function cli(target: CliTarget, ...args: string[]): Promise<CliResult> {
  return runCli([...args, '--host', '127.0.0.1', '--http-port', String(target.httpPort)]);
}

/** Like `cli`, asserting exit code 0 and returning stdout. */
export async function cliOk(target: CliTarget, ...args: string[]): Promise<string> {
  const r = await cli(target, ...args);
  if (r.code !== 0) throw new Error(`postbox ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Like `cli`, asserting exit code 0 and returning stdout parsed as JSON. */
export async function cliJson<T = any>(target: CliTarget, ...args: string[]): Promise<T> {
  const r = await cli(target, ...args, '--json');
  if (r.code !== 0) throw new Error(`postbox ${args.join(' ')} --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Rows of a table the CLI printed (a header line, then rows, columns left-aligned): each row as an object
 * keyed by header, cut at the columns' start positions in the header line. Stops at the first blank line.
 */
export function tableRows(text: string): Record<string, string>[] {
  const lines = text.split('\n');
  const header = lines[0] ?? '';
  const names = header.split(/\s+/).filter((n) => n !== '');
  const starts: number[] = [];
  let from = 0;
  for (const name of names) {
    const at = header.indexOf(name, from);
    starts.push(at);
    from = at + name.length;
  }
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') break;
    const row: Record<string, string> = {};
    names.forEach((name, i) => (row[name] = line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim()));
    rows.push(row);
  }
  return rows;
}

/** The lines after the first blank line: the second table some commands print (groups, topics --partitions). */
export function secondTable(text: string): string {
  const at = text.indexOf('\n\n');
  return at < 0 ? '' : text.slice(at + 2);
}

/** A loopback port nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
