/**
 * Test certificates made with the openssl command in a temporary directory: a CA, server certificates for
 * 127.0.0.1 and localhost signed by it, and client certificates with a chosen CN. EC P-256 keys (fast to
 * make). Nothing here is trusted beyond the test that made it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

export interface TestCertificates {
  readonly dir: string;
  /** CA certificate (PEM path) */
  readonly ca: string;
  /** server certificate and key paths (PEM) */
  readonly cert: string;
  readonly key: string;
  /** a new server certificate, signed by the same CA, with `serial`, written to `certPath`/`keyPath` */
  issueServer(serial: number, certPath?: string, keyPath?: string): { cert: string; key: string };
  /** a client certificate with subject CN `cn`, signed by the CA (or by `otherCa`: one the broker does not trust) */
  issueClient(cn: string, options?: { untrusted?: boolean }): { cert: string; key: string };
  /** the SHA-256 fingerprint of a PEM certificate file (as X509Certificate.fingerprint256) */
  fingerprint(certPath: string): string;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
}

function issue(dir: string, ca: string, name: string, cn: string, serial: number, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      String(serial),
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

const SERVER_EXTENSIONS = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n';
const CLIENT_EXTENSIONS = 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n';

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'postbox-tls-'));
  makeCa(dir, 'ca', 'Postbox test CA');
  issue(dir, 'ca', 'server', 'localhost', 1001, SERVER_EXTENSIONS);
  let clientSerial = 2000;
  let otherCa = false;
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    issueServer(serial, certPath = join(dir, 'server.pem'), keyPath = join(dir, 'server.key')) {
      const name = `server-${serial}`;
      issue(dir, 'ca', name, 'localhost', serial, SERVER_EXTENSIONS);
      writeFileSync(certPath, readFileSync(join(dir, `${name}.pem`)));
      writeFileSync(keyPath, readFileSync(join(dir, `${name}.key`)));
      return { cert: certPath, key: keyPath };
    },
    issueClient(cn, options = {}) {
      const name = `client-${++clientSerial}`;
      if (options.untrusted === true && !otherCa) {
        makeCa(dir, 'other-ca', 'Some other CA');
        otherCa = true;
      }
      issue(dir, options.untrusted === true ? 'other-ca' : 'ca', name, cn, clientSerial, CLIENT_EXTENSIONS);
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
    fingerprint(certPath) {
      return new X509Certificate(readFileSync(certPath)).fingerprint256;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
