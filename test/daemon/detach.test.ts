// Interactive use against a real shoald: ctrl-p ctrl-q (and --detach-keys) detach `run -it` and `attach`
// of the docker CLI and shoal's (each under a pseudo-terminal from script(1)), leaving the container
// running; dockerode's docker.run(), container.attach() and exec.start() without an Upgrade header, and
// its hijacked attach with detachKeys.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, eventually, REPO, shoal, startShoald } from './harness.js';

let d: Daemon;
let dk: Docker;
beforeAll(async () => {
  d = await startShoald();
  expect(
    (await docker(d, ['load', '-i', join(REPO, 'test/fixtures/out/images/busybox.docker.tar')])).code,
  ).toBe(0);
  dk = new Docker({ socketPath: d.sock });
});
afterAll(() => cleanup(d));

const status = async (name: string) =>
  JSON.parse((await docker(d, ['inspect', name])).stdout)[0]?.State?.Status as string | undefined;

/**
 * Runs a CLI command under a pseudo-terminal (script -qfec) and returns a handle to type into it and
 * to wait for its exit code.
 */
function underTerminal(cmd: string[]) {
  const config = join(d.dir, 'docker-config');
  mkdirSync(config, { recursive: true });
  const line = cmd.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const p = spawn('script', ['-qfec', line, '/dev/null'], {
    env: { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: '', SHOAL_HOST: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number>((res) => p.on('close', (code) => res(code ?? -1)));
  return { type: (s: string) => p.stdin.write(s), output: () => out, exited };
}

const dockerArgs = (args: string[]) => ['docker', '-H', `unix://${d.sock}`, ...args];
const shoalArgs = (args: string[]) => [
  process.execPath,
  join(REPO, 'bin/shoal'),
  '-H',
  `unix://${d.sock}`,
  ...args,
];

describe('detach keys', () => {
  it('ctrl-p ctrl-q detaches docker run -it; the shell keeps running and docker attach detaches again', async () => {
    const t = underTerminal(dockerArgs(['run', '-it', '--name', 'dt1', 'busybox', 'sh']));
    await eventually(async () => (await status('dt1')) === 'running', 'dt1 running');
    t.type('echo typed-$((6*7))\n');
    await eventually(() => t.output().includes('typed-42'), 'the shell to answer');
    t.type('\x10\x11');
    expect(await t.exited).toBe(0);
    expect(await status('dt1')).toBe('running');
    const a = underTerminal(dockerArgs(['attach', 'dt1']));
    a.type('echo again-$((6*7))\n');
    await eventually(() => a.output().includes('again-42'), 'the attached shell to answer');
    a.type('\x10\x11');
    await a.exited;
    expect(a.output()).toContain('read escape sequence');
    expect(await status('dt1')).toBe('running');
  });

  it('shoal run -it --detach-keys and shoal attach detach the same way', async () => {
    const t = underTerminal(
      shoalArgs(['run', '-it', '--detach-keys', 'ctrl-a,b', '--name', 'dt2', 'busybox', 'sh']),
    );
    await eventually(async () => (await status('dt2')) === 'running', 'dt2 running');
    t.type('echo shoal-$((6*7))\n');
    await eventually(() => t.output().includes('shoal-42'), 'the shell to answer');
    t.type('\x01b');
    expect(await t.exited).toBe(0);
    expect(await status('dt2')).toBe('running');
    const a = underTerminal(shoalArgs(['attach', 'dt2']));
    a.type('echo attached-$((6*7))\n');
    await eventually(() => a.output().includes('attached-42'), 'the attached shell to answer');
    a.type('\x10\x11');
    expect(await a.exited).toBe(0);
    expect(await status('dt2')).toBe('running');
    // the shell's own exit ends an attach with its status
    const b = underTerminal(shoalArgs(['attach', 'dt2']));
    await eventually(async () => {
      b.type('\n');
      return b.output().includes('#');
    }, 'the prompt');
    b.type('exit 3\n');
    expect(await b.exited).toBe(3);
  });

  it('refuses bad detach keys, naming them, and attach to a stopped container', async () => {
    const bad = await shoal(d, ['run', '-it', '--detach-keys', 'ctrl-', 'busybox', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('Invalid detach keys (ctrl-) provided');
    const r = await fetchStatus(
      `/containers/dt2/attach?stream=1&stdin=1&detachKeys=${encodeURIComponent('ctrl-ä')}`,
    );
    expect(r).toBe(400);
    expect((await docker(d, ['create', '--name', 'dtstopped', 'busybox', 'true'])).code).toBe(0);
    const stopped = await shoal(d, ['attach', 'dtstopped']);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('You cannot attach to a stopped container');
  });
});

async function fetchStatus(path: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((res, rej) => {
    const req = request({ socketPath: d.sock, method: 'POST', path }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('error', rej);
    req.end();
  });
}

describe('dockerode without an Upgrade header', () => {
  it('docker.run(), container.attach() and exec.start() get the output', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const [res, container] = (await dk.run(
      'busybox',
      ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      out,
    )) as [{ StatusCode: number }, Docker.Container];
    expect(res.StatusCode).toBe(3);
    expect(text.replace(/\r/g, '')).toBe('out\nerr\n');
    await container.remove();

    const c = await dk.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'sleep 1; echo attached'] });
    const s = await c.attach({ stream: true, stdout: true, stderr: true });
    const so = new PassThrough();
    let attached = '';
    so.on('data', (x: Buffer) => {
      attached += x.toString();
    });
    dk.modem.demuxStream(s, so, so);
    await c.start();
    await c.wait();
    await eventually(() => attached === 'attached\n', 'the attach stream');
    await c.remove();

    const c2 = await dk.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'] });
    await c2.start();
    const ex = await c2.exec({
      Cmd: ['sh', '-c', 'echo from-exec; exit 4'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const es = await ex.start({});
    const eo = new PassThrough();
    let execText = '';
    eo.on('data', (x: Buffer) => {
      execText += x.toString();
    });
    dk.modem.demuxStream(es, eo, eo);
    await new Promise((r) => es.on('end', r));
    expect(execText).toBe('from-exec\n');
    expect((await ex.inspect()).ExitCode).toBe(4);
    await c2.remove({ force: true });
  });

  it('a hijacked attach with detachKeys detaches and leaves the container running', async () => {
    const c = await dk.createContainer({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, Tty: false });
    await c.start();
    const s = (await c.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
      detachKeys: 'ctrl-x,x',
    })) as unknown as NodeJS.ReadWriteStream;
    let got = '';
    s.on('data', (x: Buffer) => {
      got += x.toString('latin1');
    });
    const ended = new Promise((r) => s.on('end', r));
    s.write('ping\n');
    await eventually(() => got.includes('ping'), 'cat to echo');
    s.write('\x18x');
    await ended;
    expect((await c.inspect()).State.Status).toBe('running');
    await c.remove({ force: true });
  });
});
