// The client against a protocol-speaking unix-socket server (the real monitor is exercised by
// test/engine/*): framing, streams that start right after the reply line, and error mapping.
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MonitorClient, MonitorGoneError, MonitorRequestError } from './monitor-client.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-monclient-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

function serve(handler: (req: Record<string, unknown>, sock: Socket) => void): Promise<string> {
  const path = join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  server = createServer((sock) => {
    let buf = '';
    sock.on('data', function onData(d) {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.off('data', onData);
      handler(JSON.parse(buf.slice(0, nl)), sock);
    });
  });
  return new Promise((resolve) => server!.listen(path, () => resolve(path)));
}

describe('MonitorClient', () => {
  it('sends one request line and parses the reply', async () => {
    const seen: unknown[] = [];
    const path = await serve((req, sock) => {
      seen.push(req);
      sock.end(`${JSON.stringify({ ok: true, status: 'running', pid: 42 })}\n`);
    });
    const c = new MonitorClient(path);
    expect(await c.state()).toEqual({ status: 'running', pid: 42 });
    await c.kill(15);
    expect(seen).toEqual([{ op: 'state' }, { op: 'kill', signal: 15, all: false }]);
  });

  it('turns {"ok":false} into MonitorRequestError with the message', async () => {
    const path = await serve((_req, sock) => sock.end('{"ok":false,"error":"already started"}\n'));
    await expect(new MonitorClient(path).start()).rejects.toThrow(MonitorRequestError);
    await expect(new MonitorClient(path).start()).rejects.toThrow('already started');
  });

  it('reaches a socket whose path is longer than sun_path allows', async () => {
    const deep = join(dir, 'x'.repeat(60), 'y'.repeat(60));
    mkdirSync(deep, { recursive: true });
    const path = join(deep, 'ctl.sock');
    expect(Buffer.byteLength(path)).toBeGreaterThan(108);
    // Bind through the directory too (as a monitor must), since sun_path cannot hold the path.
    const fd = openSync(deep, 'r');
    const local = createServer((sock) => sock.end('{"ok":true,"status":"running","pid":1}\n'));
    try {
      await new Promise<void>((r) => local.listen(`/proc/self/fd/${fd}/ctl.sock`, () => r()));
      expect(await new MonitorClient(path).state()).toEqual({ status: 'running', pid: 1 });
    } finally {
      // Node never calls back close() of a server bound through /proc/self/fd: do not wait for it.
      local.close();
      closeSync(fd);
    }
  });

  it('reports a missing socket as MonitorGoneError', async () => {
    await expect(new MonitorClient(join(dir, 'none.sock')).state()).rejects.toBeInstanceOf(MonitorGoneError);
  });

  it('reports a connection closed before the reply as MonitorGoneError (monitor exited during wait)', async () => {
    const path = await serve((_req, sock) => sock.end());
    await expect(new MonitorClient(path).wait()).rejects.toBeInstanceOf(MonitorGoneError);
  });

  it('keeps stream bytes that arrive in the same packet as the reply', async () => {
    const path = await serve((req, sock) => {
      expect(req).toMatchObject({ op: 'attach', stdin: true });
      sock.write('{"ok":true}\nhello ');
      sock.on('data', (d) => sock.end(`echo:${d}`));
    });
    const stream = await new MonitorClient(path).attach({ stdin: true, stdout: true, stderr: false });
    stream.write('ping');
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello echo:ping');
  });

  it('exec returns the monitor exec id and the stream; detached exec no stream', async () => {
    const path = await serve((req, sock) => {
      if (req.detach) sock.end('{"ok":true,"execId":"e2","pid":8}\n');
      else sock.end('{"ok":true,"execId":"e1","pid":7}\nout');
    });
    const c = new MonitorClient(path);
    const attached = await c.exec({ user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' }, false);
    expect(attached.execId).toBe('e1');
    const chunks: Buffer[] = [];
    for await (const x of attached.stream!) chunks.push(x as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('out');
    expect(await c.exec({ user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' }, true)).toEqual({
      execId: 'e2',
      pid: 8,
      stream: null,
    });
  });

  it('aborts a pending wait', async () => {
    const path = await serve(() => {
      // never answers, as a monitor whose container keeps running
    });
    const ac = new AbortController();
    const p = new MonitorClient(path).wait(ac.signal);
    ac.abort(new Error('closing'));
    await expect(p).rejects.toThrow('closing');
  });
});
