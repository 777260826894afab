// Bad input and failures at every step of create: one clear stderr line, a non-zero exit, and
// nothing left behind (state dir, cgroups, mounts, monitor, container process).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyRuntimeFailure } from '../../worker/engine/native.js';
import type { OciSpec } from '../../worker/engine/spec/defaults.js';
import { ensureFixtures, leftovers, Sandbox } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

async function expectCreateFails(edit: (s: OciSpec, sb: Sandbox) => void, message: RegExp, args = ['sh']) {
  sb = new Sandbox();
  const { id, bundle } = sb.bundle(args, (s) => edit(s, sb));
  const r = await sb.rt(['create', '--bundle', bundle, id]);
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^shoal-runtime: /);
  expect(lines[0]).toMatch(message);
  expect(leftovers(sb, id)).toEqual([]);
  return lines[0];
}

describe('create failures', () => {
  it('a missing rootfs', async () => {
    await expectCreateFails((s) => {
      s.root.path = '/nonexistent/rootfs';
    }, /rootfs \/nonexistent\/rootfs: no such directory/);
  });

  it('a command that does not exist in the rootfs', async () => {
    const line = await expectCreateFails(() => {}, /exec "nope": executable file not found in \$PATH/, [
      'nope',
    ]);
    expect(classifyRuntimeFailure(line, 1).runtimeKind).toBe('exec-not-found');
  });

  it('an absolute command path that does not exist', async () => {
    await expectCreateFails(() => {}, /exec "\/bin\/nope": no such file or directory/, ['/bin/nope']);
  });

  it('a bind mount source that does not exist', async () => {
    await expectCreateFails((s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: '/nonexistent/src', options: ['rbind'] });
    }, /bind mount source \/nonexistent\/src: no such file or directory/);
  });

  it('an unknown capability', async () => {
    const line = await expectCreateFails((s) => {
      s.process.capabilities!.bounding!.push('CAP_FOO');
    }, /unknown capability "CAP_FOO"/);
    expect(classifyRuntimeFailure(line, 1).runtimeKind).toBe('invalid-spec');
  });

  it('a negative memory limit', async () => {
    await expectCreateFails((s) => {
      s.linux!.resources!.memory = { limit: -5 };
    }, /invalid config.json: linux.resources.memory.limit: must be a positive number of bytes/);
  });

  it('a cpuset the kernel refuses (set up after the cgroup was made)', async () => {
    await expectCreateFails((s) => {
      s.linux!.resources!.cpu = { cpus: '999' };
    }, /cgroup cpuset.cpus = 999: invalid value/);
  });

  it('a non-numeric value where a number belongs', async () => {
    await expectCreateFails((s) => {
      (s.linux!.resources as Record<string, unknown>).pids = { limit: 'lots' };
    }, /linux.resources.pids.limit: must be an integer/);
  });

  it('an unknown namespace path', async () => {
    await expectCreateFails((s) => {
      s.linux!.namespaces!.push({ type: 'user', path: '/proc/nonexistent/ns/user' });
    }, /namespace path \/proc\/nonexistent\/ns\/user: no such file or directory/);
  });

  it('a mount the kernel rejects inside the container (after clone and cgroups)', async () => {
    await expectCreateFails((s) => {
      s.mounts!.push({ destination: '/bad', type: 'tmpfs', source: 'tmpfs', options: ['size=banana'] });
    }, /mount tmpfs on \/bad: invalid argument/);
  });

  it('a duplicate container id', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '100']);
    expect((await sb.rt(['create', '--bundle', bundle, id])).code).toBe(0);
    const r = await sb.rt(['create', '--bundle', bundle, id]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`shoal-runtime: container "${id}" already exists\n`);
    expect(sb.state(id).status).toBe('created'); // the first one is untouched
  });

  it('not JSON at all', async () => {
    sb = new Sandbox();
    const bundle = join(sb.dir, 'garbage');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), '{not json');
    const r = await sb.rt(['create', '--bundle', bundle, 'garbage']);
    expect(r.stderr).toBe('shoal-runtime: invalid config.json: not a JSON object\n');
    expect(leftovers(sb, 'garbage')).toEqual([]);
  });

  it('a rootfs that vanishes while the container is being set up', async () => {
    sb = new Sandbox();
    const root = join(sb.dir, 'vanishing');
    mkdirSync(root);
    const { id, bundle } = sb.bundle(['sh'], (s) => {
      s.root.path = root;
    });
    // exists at validation time but is empty: no /bin/sh inside
    const r = await sb.rt(['create', '--bundle', bundle, id]);
    expect(r.stderr).toMatch(/exec "sh": executable file not found/);
    expect(leftovers(sb, id)).toEqual([]);
    rmSync(root, { recursive: true });
  });

  it('classifies other runtime errors for the engine', () => {
    expect(classifyRuntimeFailure('shoal-runtime: container "x" does not exist', 1).runtimeKind).toBe(
      'not-found',
    );
    expect(classifyRuntimeFailure('shoal-runtime: container "x" already exists', 1).runtimeKind).toBe(
      'conflict',
    );
    expect(classifyRuntimeFailure('shoal-runtime: container is not running', 1).runtimeKind).toBe(
      'not-running',
    );
    expect(classifyRuntimeFailure('shoal-runtime: exec "/etc": is a directory', 1).runtimeKind).toBe(
      'exec-permission',
    );
    const sys = classifyRuntimeFailure('shoal-runtime: pivot_root /x: invalid argument', 1);
    expect(sys.runtimeKind).toBe('system');
    expect(sys.kind).toBe('internal');
    expect(sys.message).toBe('pivot_root /x: invalid argument');
  });
});
