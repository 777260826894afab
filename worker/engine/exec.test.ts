import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError } from './errors.js';
import { ExecTable } from './exec.js';
import { ALL_CAPABILITIES, baseSpec } from './spec/defaults.js';

const root = mkdtempSync(join(tmpdir(), 'shoal-exec-'));
mkdirSync(join(root, 'etc'));
writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
writeFileSync(join(root, 'etc/group'), 'root:x:0:\nwheel:x:10:app\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const table = () => new ExecTable(() => `exec${++n}`);

describe('ExecTable', () => {
  it('builds the exec process from the container spec and the exec options', () => {
    const t = table();
    const spec = baseSpec('/r');
    spec.process.env = ['PATH=/bin', 'A=1'];
    spec.process.cwd = '/srv';
    spec.process.noNewPrivileges = true;
    spec.process.user = { uid: 5, gid: 6, additionalGids: [7] };
    const id = t.add('c1', { cmd: ['sh'], env: ['A=2', 'B=3'] });
    const ctx = { spec, rootfsLayers: [root], tty: false, configEnv: [], privilegedCaps: ALL_CAPABILITIES };
    const p = t.processFor(t.get(id), ctx);
    expect(p).toMatchObject({
      terminal: false,
      user: { uid: 5, gid: 6, additionalGids: [7] },
      args: ['sh'],
      env: ['PATH=/bin', 'A=2', 'B=3'],
      cwd: '/srv',
      noNewPrivileges: true,
    });
    expect(p.capabilities).toEqual(spec.process.capabilities);
    const asApp = t.processFor(
      t.get(t.add('c1', { cmd: ['id'], user: 'app', workingDir: '/tmp', privileged: true })),
      { ...ctx, tty: true, privilegedCaps: ['CAP_KILL'] },
    );
    expect(asApp.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10] });
    expect(asApp.cwd).toBe('/tmp');
    expect(asApp.env).toContain('TERM=xterm');
    expect(asApp.env).toContain('HOME=/home/app');
    expect(asApp.capabilities?.effective).toEqual(['CAP_KILL']);
    // A HOME the user set on the container stays.
    spec.process.env = ['PATH=/bin', 'HOME=/data'];
    const kept = t.processFor(t.get(t.add('c1', { cmd: ['id'], user: 'app' })), {
      ...ctx,
      configEnv: ['HOME=/data'],
    });
    expect(kept.env).toEqual(['PATH=/bin', 'HOME=/data']);
    expect(() => t.processFor(t.get(t.add('c1', { cmd: ['id'], user: 'ghost' })), ctx)).toThrow(/ghost/);
  });
  it('tracks execs per container and forgets them with it', () => {
    const t = table();
    const a = t.add('c1', { cmd: ['a'] });
    const b = t.add('c2', { cmd: ['b'] });
    expect(t.idsOf('c1')).toEqual([a]);
    t.containerRemoved('c1');
    expect(() => t.get(a)).toThrow(NotFoundError);
    expect(t.get(b).containerId).toBe('c2');
  });
});
