// `shoal run` end to end against a real shoald: exit status, stdio, --rm, -d, names, env, mounts,
// read-only rootfs, user, hostname, workdir, limits in inspect, stdin and a TTY.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, REPO, ROOTFS, shoal, spawnShoal, startShoald } from '../daemon/harness.js';

let d: Daemon;
let host: string;
beforeAll(async () => {
  d = await startShoald();
  host = mkdtempSync(join(tmpdir(), 'shoal-e2-bind-'));
  chmodSync(host, 0o777);
});
afterAll(async () => {
  await cleanup(d);
  rmSync(host, { recursive: true, force: true });
});

const run = (args: string[], input?: string) => shoal(d, ['run', ...args], input);

describe('shoal run', () => {
  it("passes stdout and stderr through and exits with the container's status; --rm leaves nothing", async () => {
    const r = await run([
      '--rm',
      '--name',
      'rm1',
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect((await shoal(d, ['ps', '-a'])).stdout).not.toContain('rm1');
  });

  it('keeps an exited container without --rm, shown as Exited (N) by ps -a', async () => {
    const r = await run(['--name', 'kept', '--rootfs', ROOTFS, 'sh', '-c', 'exit 5']);
    expect(r.code).toBe(5);
    const ps = await shoal(d, ['ps', '-a']);
    expect(ps.stdout).toMatch(/Exited \(5\) .* kept\n/);
    expect((await shoal(d, ['ps'])).stdout).not.toContain('kept');
    expect((await shoal(d, ['rm', 'kept'])).stdout).toBe('kept\n');
  });

  it('applies -e, --hostname, --user, --workdir and --env-file', async () => {
    const envFile = join(host, 'env.list');
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
    const r = await run([
      '--rm',
      '-e',
      'FOO=bar',
      '--env-file',
      envFile,
      '--hostname',
      'boxy',
      '-u',
      '1000:1001',
      '-w',
      '/tmp',
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'echo $FOO $FROM_FILE $(hostname) $(id -u):$(id -g) $(pwd)',
    ]);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'bar yes boxy 1000:1001 /tmp\n' });
  });

  it('bind-mounts host directories read-write and read-only', async () => {
    const rw = await run([
      '--rm',
      '-v',
      `${host}:/data`,
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'echo hi > /data/from-container',
    ]);
    expect(rw.code).toBe(0);
    expect(readFileSync(join(host, 'from-container'), 'utf8')).toBe('hi\n');
    const ro = await run([
      '--rm',
      '-v',
      `${host}:/data:ro`,
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'echo no > /data/x',
    ]);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });

  it('makes the rootfs read-only with --read-only, with --tmpfs still writable', async () => {
    const r = await run([
      '--rm',
      '--read-only',
      '--tmpfs',
      '/scratch',
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/y && echo tmpfs-ok',
    ]);
    expect(r).toMatchObject({ code: 0, stdout: 'tmpfs-ok\n' });
  });

  it('reflects --memory, --pids-limit, --cpus and caps in inspect', async () => {
    const c = await run([
      '-d',
      '--name',
      'limits',
      '--memory',
      '64m',
      '--pids-limit',
      '32',
      '--cpus',
      '0.5',
      '--cap-drop',
      'NET_RAW',
      '--rootfs',
      ROOTFS,
      'sleep',
      '30',
    ]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const i = JSON.parse((await shoal(d, ['inspect', 'limits'])).stdout)[0];
    expect(i.Id).toBe(c.stdout.trim());
    expect(i.Name).toBe('/limits');
    expect(i.State).toMatchObject({ Status: 'running', Running: true });
    expect(i.State.Pid).toBeGreaterThan(0);
    expect(i.HostConfig).toMatchObject({
      Memory: 64 * 1024 * 1024,
      PidsLimit: 32,
      NanoCpus: 5e8,
      CapDrop: ['NET_RAW'],
    });
    const ps = await shoal(d, ['ps']);
    expect(ps.stdout).toMatch(/"sleep 30" .* Up .* limits\n/);
    expect((await shoal(d, ['rm', '-f', 'limits'])).code).toBe(0);
  });

  it('feeds stdin with -i and closes it at EOF', async () => {
    const r = await run(['--rm', '-i', '--rootfs', ROOTFS, 'sh', '-c', 'cat; echo done'], 'hello\nworld\n');
    expect(r).toMatchObject({ code: 0, stdout: 'hello\nworld\ndone\n' });
  });

  it('gives the container a terminal with -t', async () => {
    const r = await run(['--rm', '-t', '--rootfs', ROOTFS, 'sh', '-c', 'tty; test -t 1 && echo is-a-tty']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('/dev/pts/0\r\nis-a-tty\r\n');
  });

  it('puts the local terminal in raw mode and sends its size with -it (under script(1))', async () => {
    const cmd = `stty rows 33 cols 111; ${process.execPath} ${join(REPO, 'bin/shoal')} -H unix://${d.sock} run -it --rm --rootfs ${ROOTFS} sh -c 'echo ready; read x; stty size; trap "echo got-int; exit 9" INT; echo armed; while :; do sleep 0.1; done'`;
    // script(1) gives the CLI a pseudo-terminal; its stdin stays open until the command is done.
    const p = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready') && !out.includes('sent-cr')) {
        out += 'sent-cr';
        p.stdin.write('\r');
      }
      // Raw mode: Ctrl-C is a byte for the container's terminal (its SIGINT), not a signal to the CLI.
      if (out.includes('armed') && !out.includes('sent-intr')) {
        out += 'sent-intr';
        p.stdin.write('\x03');
      }
    });
    const code = await new Promise<number | null>((res) => p.on('close', res));
    expect(out).toMatch(/33 111\r/);
    expect(out).toContain('got-int');
    expect(code).toBe(9);
  });

  it('forwards signals it receives to the container (sig-proxy)', async () => {
    const script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done';
    const p = spawnShoal(d, ['run', '--rm', '--rootfs', ROOTFS, 'sh', '-c', script]);
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out === 'ready\n') p.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((res) => p.on('close', res));
    expect(out).toBe('ready\ngot-term\n');
    expect(code).toBe(3);
  });

  it('exits 127 for a command that does not exist and 126 for one that cannot be executed', async () => {
    const nf = await run(['--rm', '--rootfs', ROOTFS, 'no-such-command']);
    expect(nf.code).toBe(127);
    expect(nf.stderr).toMatch(/no-such-command/);
    const nx = await run(['--rm', '--rootfs', ROOTFS, '/etc/passwd']);
    expect(nx.code).toBe(126);
  });
});
