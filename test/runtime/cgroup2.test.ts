// The cgroup v2 code path. This machine is hybrid (every controller on v1, an empty v2 at
// /sys/fs/cgroup/unified), so the runtime is run in a private mount namespace where
// /sys/fs/cgroup is that cgroup2 hierarchy: joining, freezing, stats and removal work there
// (limits need controllers that v2 does not have on this machine).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CGROUP_PARENT, ensureFixtures, RUNTIME, run, Sandbox } from './helpers.js';

let sb: Sandbox;
beforeAll(() => ensureFixtures());
afterEach(async () => {
  await sb?.cleanup();
});

const hybrid = existsSync('/sys/fs/cgroup/unified/cgroup.procs');

describe.skipIf(!hybrid)('cgroup v2', () => {
  it('creates, joins, freezes, reports and removes a v2 cgroup', async () => {
    sb = new Sandbox();
    const { id, bundle } = sb.bundle(['sleep', '1000'], (s) => {
      s.linux!.resources = {}; // no v2 controllers here to take limits
    });
    const rt = `${RUNTIME} --root ${sb.root}`;
    const dir = `/sys/fs/cgroup/${CGROUP_PARENT}/${id}`;
    const script = [
      'set -e',
      'mount -t cgroup2 none /sys/fs/cgroup',
      `${rt} create --bundle ${bundle} ${id}`,
      `${rt} start ${id}`,
      `grep -o '"cgroupPaths":{[^}]*}' ${sb.root}/${id}/state.json`,
      `echo procs=$(cat ${dir}/cgroup.procs | wc -l)`,
      `${rt} exec ${id} cat /proc/self/cgroup`,
      `${rt} pause ${id}`,
      `echo frozen=$(cat ${dir}/cgroup.freeze)`,
      `${rt} resume ${id}`,
      `echo thawed=$(cat ${dir}/cgroup.freeze)`,
      `${rt} events --stats ${id}`,
      `${rt} delete --force ${id}`,
      `test -e ${dir} && echo LEFT || echo removed`,
    ].join('\n');
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`"cgroupPaths":{"unified":"${dir}"}`);
    expect(r.stdout).toContain('procs=1\n');
    expect(r.stdout).toContain('0::/\n'); // the exec'd process sits at the root of its cgroup namespace
    expect(r.stdout).toContain('frozen=1\n');
    expect(r.stdout).toContain('thawed=0\n');
    const stats = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{"cpu"')) ?? '{}');
    expect(stats.cpu.usageNs).toBeGreaterThan(0); // cpu.stat is a core file of every v2 cgroup
    expect(r.stdout).toContain('removed\n');
    expect(existsSync(join('/sys/fs/cgroup/unified', CGROUP_PARENT, id))).toBe(false);
  });
});
