// HostConfig.ConsoleSize at create (what `docker run -t` sends) sizes the terminal from the start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, cleanup, type Daemon, docker, ROOTFS, startShoald } from './harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
});
afterAll(() => cleanup(d));

describe('HostConfig.ConsoleSize', () => {
  it('reaches the pty before the process starts, and shows in inspect', async () => {
    const created = await api(d, 'POST', '/v1.41/containers/create?name=sized', {
      Rootfs: ROOTFS,
      Cmd: ['stty', 'size'],
      Tty: true,
      HostConfig: { ConsoleSize: [41, 132] },
    });
    expect(created.status).toBe(201);
    expect((await api(d, 'POST', '/v1.41/containers/sized/start')).status).toBe(204);
    expect((await docker(d, ['wait', 'sized'])).stdout).toBe('0\n');
    expect((await docker(d, ['logs', 'sized'])).stdout).toBe('41 132\r\n');
    const size = await docker(d, ['inspect', '-f', '{{json .HostConfig.ConsoleSize}}', 'sized']);
    expect(size.stdout).toBe('[41,132]\n');
  });

  it('rejects a size out of range with 400 naming the field', async () => {
    const r = await api(d, 'POST', '/v1.41/containers/create?name=badsize', {
      Rootfs: ROOTFS,
      Cmd: ['true'],
      Tty: true,
      HostConfig: { ConsoleSize: [24, -5] },
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toBe('invalid HostConfig.ConsoleSize[1]: must be >= 0');
    expect((await api(d, 'GET', '/v1.41/containers/badsize/json')).status).toBe(404);
  });
});
