// Starts Debian's docker-registry on 127.0.0.1 with a random free port and a config written here
// (filesystem storage in a temp dir; optionally htpasswd auth), for tests and the benchmark.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TestRegistry {
  host: string; // 127.0.0.1:PORT
  port: number;
  dir: string;
  proc: ChildProcess;
  /** the CA certificate file when started with tls */
  ca?: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI). */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const o = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  o([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=shoal test CA',
  ]);
  o(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1" > ext'], { cwd: dir });
  o([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'ext',
  ]);
  return {
    ca: path.join(dir, 'ca.crt'),
    cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key'),
  };
}

export async function startRegistry(
  opts: { users?: Record<string, string>; tls?: boolean } = {},
): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-registry-'));
  const port = await freePort();
  let tls = '';
  let ca: string | undefined;
  if (opts.tls) {
    const c = makeCerts(dir);
    ca = c.ca;
    tls = `  tls:\n    certificate: ${c.cert}\n    key: ${c.key}\n`;
  }
  let auth = '';
  if (opts.users) {
    const lines = Object.entries(opts.users).map(([u, p]) =>
      execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim(),
    );
    await fs.writeFile(path.join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    auth = `auth:\n  htpasswd:\n    realm: shoal-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  const cfg = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${tls}${auth}`;
  await fs.writeFile(path.join(dir, 'config.yml'), cfg);
  const proc = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += d;
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return { host: `127.0.0.1:${port}`, port, dir, proc, stop, ca };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`docker-registry did not start: ${stderr.slice(0, 500)}`);
}
