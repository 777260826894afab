// Logs, exec and attach through ContainerManager with real containers.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, type ExecOptions, NotFoundError } from '../../worker/engine/index.js';
import { collectLogs, demux, type Env, ensureFixture, makeEnv, ROOTFS } from './helpers.js';

beforeAll(ensureFixture);

let env: Env;
afterEach(async () => {
  await env?.cleanup();
});

describe('logs', () => {
  it('separates stdout and stderr, tails, and reads across rotated files', async () => {
    env = makeEnv();
    const m = await env.open({ logMaxSize: 2048, logMaxFiles: 3 });
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'i=1; while [ $i -le 200 ]; do echo "out $i"; i=$((i+1)); done; echo "err last" >&2'],
    });
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    await exited;
    const c = m.inspect(id);
    const files = readdirSync(c.bundle).filter((f) => f.startsWith(`${id}-json.log`));
    expect(files.sort()).toEqual([`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    const all = await collectLogs(m.logs(id));
    expect(all.stderr).toBe('err last\n');
    // Rotation dropped the oldest lines; what remains is contiguous up to the last one.
    const lines = all.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('out 200');
    const first = Number(lines[0].split(' ')[1]);
    expect(lines).toEqual(Array.from({ length: 201 - first }, (_, i) => `out ${first + i}`));
    expect(await collectLogs(m.logs(id, { tail: 3 }))).toEqual({
      stdout: 'out 199\nout 200\n',
      stderr: 'err last\n',
    });
    expect(await collectLogs(m.logs(id, { tail: 2, stderr: false }))).toEqual({
      stdout: 'out 199\nout 200\n',
      stderr: '',
    });
    expect((await collectLogs(m.logs(id, { stdout: false }))).stdout).toBe('');
    const stamped = [];
    for await (const e of m.logs(id, { tail: 1 })) stamped.push(e.time);
    expect(stamped[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    expect(() => m.logs('nope')).toThrow(NotFoundError);
  });

  it('follows a running container until it stops', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three'],
    });
    await m.start(id);
    const got = await collectLogs(m.logs(id, { follow: true }));
    expect(got).toEqual({ stdout: 'one\nthree\n', stderr: 'two\n' });
    expect(m.inspect(id).state.status).toBe('exited');
  });
});

describe('exec', () => {
  it('runs in the container namespaces, streams output and reports the exit code', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sleep', '1000'],
      hostname: 'inner',
      env: ['A=1'],
    });
    await m.start(id);
    expect(await m.top(id)).toEqual([m.inspect(id).state.pid]);
    const execId = m.execCreate(id, {
      cmd: [
        'sh',
        '-c',
        'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; echo "$A$B"; pwd; echo oops >&2; exit 5',
      ],
      env: ['B=2'],
      workingDir: '/tmp',
      attachStdout: true,
      attachStderr: true,
    });
    const stream = await m.execStart(execId);
    const out = await demux(stream!);
    expect(out.stdout).toBe('inner\nsleep 1000 \n12\n/tmp\n');
    expect(out.stderr).toBe('oops\n');
    const info = await m.execInspect(execId);
    expect(info).toMatchObject({ running: false, exitCode: 5, containerId: id });
    expect(m.inspect(id).execIds).toContain(execId);
    await expect(m.execStart(execId)).rejects.toBeInstanceOf(ConflictError);
    await expect(m.execInspect('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('exec as another user, with stdin, with a tty, and detached', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    await m.start(id);
    const run = async (opts: ExecOptions) => demux((await m.execStart(m.execCreate(id, opts)))!);
    expect((await run({ cmd: ['sh', '-c', 'id -u; echo $HOME'], user: 'app' })).stdout).toBe(
      '1000\n/home/app\n',
    );
    const capEff = (o: Partial<ExecOptions>) =>
      run({ cmd: ['sh', '-c', 'grep CapEff /proc/self/status | cut -f2'], ...o });
    expect((await capEff({})).stdout).toBe('00000000a80425fb\n');
    const bounding = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    expect((await capEff({ privileged: true })).stdout).toBe(`${bounding}\n`);

    const catId = m.execCreate(id, { cmd: ['cat'], attachStdin: true, attachStdout: true });
    const cat = (await m.execStart(catId))!;
    const catOut = demux(cat);
    cat.end('piped through\n');
    expect((await catOut).stdout).toBe('piped through\n');
    expect((await m.execInspect(catId)).exitCode).toBe(0);

    const ttyId = m.execCreate(id, {
      cmd: ['sh', '-c', 'tty; read x; stty size'],
      tty: true,
      attachStdin: true,
    });
    const tty = (await m.execStart(ttyId, { tty: true }))!;
    let raw = '';
    const ttyDone = (async () => {
      for await (const c of tty) raw += c.toString();
    })();
    await m.execResize(ttyId, 40, 120);
    tty.write('\n');
    await ttyDone;
    expect(raw).toMatch(/\/dev\/pts\/\d+\r\n/);
    expect(raw).toMatch(/40 120\r\n/);

    const bg = m.execCreate(id, { cmd: ['sh', '-c', 'sleep 0.2; exit 3'] });
    expect(await m.execStart(bg, { detach: true })).toBeNull();
    let info = await m.execInspect(bg);
    const deadline = Date.now() + 20_000;
    while (info.running && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      info = await m.execInspect(bg);
    }
    expect(info).toMatchObject({ running: false, exitCode: 3 });
  });

  it('forgets finished execs after the retention and beyond the per-container cap, not running ones', async () => {
    env = makeEnv();
    let clock = Date.parse('2026-12-01T00:00:00Z');
    const m = await env.open({
      now: () => new Date(clock),
      execRetention: { keepFinishedMs: 60_000, maxFinishedPerContainer: 2 },
    });
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    await m.start(id);
    const probe = async (code: number): Promise<string> => {
      const execId = m.execCreate(id, { cmd: ['sh', '-c', `exit ${code}`], attachStdout: true });
      await demux((await m.execStart(execId))!);
      expect(await m.execInspect(execId)).toMatchObject({ running: false, exitCode: code });
      clock += 1_000;
      return execId;
    };
    const long = m.execCreate(id, { cmd: ['sleep', '1000'] });
    expect(await m.execStart(long, { detach: true })).toBeNull();
    const ran = [await probe(1), await probe(2), await probe(3)];
    // the two newest finished execs stay inspectable; the oldest is gone; the running one stays
    await expect(m.execInspect(ran[0])).rejects.toBeInstanceOf(NotFoundError);
    expect((await m.execInspect(ran[1])).exitCode).toBe(2);
    expect((await m.execInspect(ran[2])).exitCode).toBe(3);
    expect(m.inspect(id).execIds.sort()).toEqual([long, ran[1], ran[2]].sort());

    clock += 60_000;
    const next = await probe(4); // past the retention: the earlier finished ones go when the next comes
    await expect(m.execInspect(ran[2])).rejects.toBeInstanceOf(NotFoundError);
    expect(m.inspect(id).execIds.sort()).toEqual([long, next].sort());
    expect((await m.execInspect(long)).running).toBe(true);
  });

  it('rejects exec into a stopped container and a command that does not exist', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({ rootfs: { dir: ROOTFS }, cmd: ['sleep', '1000'] });
    expect(() => m.execCreate(id, { cmd: ['true'] })).toThrow(/not running/);
    await m.start(id);
    expect(() => m.execCreate(id, { cmd: [] })).toThrow(/cmd/);
    const bad = m.execCreate(id, { cmd: ['/no/such/thing'] });
    await expect(m.execStart(bad)).rejects.toMatchObject({
      runtimeKind: 'exec-not-found',
      kind: 'invalid_argument',
      message: expect.stringMatching(/no\/such\/thing/),
    });
    expect(await m.execInspect(bad)).toMatchObject({ running: false, exitCode: 127 });
  });
});

describe('attach', () => {
  it('attaches to stdio of a container with open stdin (stdin-once)', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'read line; echo "got $line"; echo bye >&2'],
      openStdin: true,
      stdinOnce: true,
    });
    const stream = await m.attach(id, { stdin: true, stdout: true, stderr: true });
    const out = demux(stream);
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    stream.write('hello\n');
    stream.end();
    expect(await out).toEqual({ stdout: 'got hello\n', stderr: 'bye\n' });
    expect((await exited).exitCode).toBe(0);
    // Exited: as dockerd, an attach waits for the next start and carries that run's stdio.
    const again = await m.attach(id, { stdin: true, stdout: true, stderr: true });
    const out2 = demux(again);
    again.write('again\n');
    again.end();
    const exited2 = m.wait(id, 'next-exit');
    await m.start(id);
    expect(await out2).toEqual({ stdout: 'got again\n', stderr: 'bye\n' });
    expect((await exited2).exitCode).toBe(0);
  });

  it('resizes the terminal of a tty container', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'read x; stty size'],
      tty: true,
      openStdin: true,
    });
    const stream = await m.attach(id, { stdin: true, stdout: true });
    let raw = '';
    const done = (async () => {
      for await (const c of stream) raw += c.toString();
    })();
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    await m.resize(id, 30, 100);
    stream.write('\n');
    expect((await exited).exitCode).toBe(0);
    await done;
    expect(raw).toMatch(/30 100\r\n/);
    await expect(m.resize(id, -1, 5)).rejects.toThrow(/height/);
  });

  it('a tty container gives raw terminal bytes', async () => {
    env = makeEnv();
    const m = await env.open();
    const { id } = await m.create({
      rootfs: { dir: ROOTFS },
      cmd: ['sh', '-c', 'tty; echo $TERM'],
      tty: true,
    });
    const stream = await m.attach(id, { stdout: true, stderr: true });
    let raw = '';
    const done = (async () => {
      for await (const c of stream) raw += c.toString();
    })();
    const exited = m.wait(id, 'next-exit');
    await m.start(id);
    await exited;
    await done;
    expect(raw).toMatch(/\/dev\/pts\/\d+\r\nxterm\r\n/);
  });
});
