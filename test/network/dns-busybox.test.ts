// The resolver answering a libc-style client it did not grow up with: busybox nslookup, inside a network
// namespace the test creates, against the listener running in that namespace on port 53 (busybox cannot
// pick another port), with a second listener in the namespace playing the upstream.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = process.getuid?.() === 0;
const netns = `dns${randomBytes(3).toString('hex')}`;
let server: ChildProcess | undefined;

function nslookup(...args: string[]) {
  const r = spawnSync(
    'nsenter',
    [`--net=/run/netns/${netns}`, '--', 'busybox', 'nslookup', ...args, '127.0.0.1'],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
const addresses = (out: string) =>
  [
    ...out
      .split(/\n\s*\n/)
      .slice(1)
      .join('\n')
      .matchAll(/Address: (\S+)/g),
  ].map((m) => m[1]);

describe.skipIf(!root)('the resolver in a network namespace, asked by busybox nslookup', () => {
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', netns]);
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    server = spawn(
      'nsenter',
      [
        `--net=/run/netns/${netns}`,
        '--',
        process.execPath,
        '--import',
        'tsx',
        'test/network/dns-serve.ts',
        '127.0.0.1',
        '127.0.0.2',
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      server!.on('exit', (c) => reject(new Error(`dns-serve exited (${c})`)));
      server!.stdout!.once('data', () => resolve());
    });
  });
  afterAll(() => {
    if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, 'SIGKILL');
    execFileSync('ip', ['netns', 'del', netns]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(netns);
  });

  it('services, tasks, dnsrr, containers and aliases', () => {
    expect(addresses(nslookup('web').out)).toEqual(['10.0.1.2']);
    expect(addresses(nslookup('tasks.web').out).sort()).toEqual(['10.0.1.5', '10.0.1.6']);
    expect(addresses(nslookup('db').out).sort()).toEqual(['10.0.1.8', '10.0.1.9']);
    expect(addresses(nslookup('redis').out)).toEqual(['10.0.1.20']);
    expect(addresses(nslookup('web.corp.example').out)).toEqual(['10.0.1.2']);
  });

  it('PTR of a known address', () => {
    expect(nslookup('10.0.1.20').out).toContain('cache.appnet');
  });

  it('unknown names go to the upstream; what it does not know is NXDOMAIN', () => {
    expect(addresses(nslookup('example.test').out)).toEqual(['192.0.2.10']);
    const r = nslookup('nothing.invalid');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('NXDOMAIN');
  });
});
