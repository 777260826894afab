// The OCI bundles the cgroup v2 bed runs, written on the host with the engine's own spec code (Docker's
// defaults from baseSpec, the limits through resourcesSpec as `shoal run --memory …` would give them), so the
// VM checks what the engine really asks of a v2 host. Usage: tsx test/cgroup2/bundles.ts OUT_DIR
// Each bundle is OUT_DIR/<name>/config.json with its root at /rootfs (the VM's shared busybox tree).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ResourceOptions, resourcesSpec } from '../../worker/engine/spec/build.js';
import { baseSpec, type OciDeviceCgroup, type OciSpec } from '../../worker/engine/spec/defaults.js';
import { applyDevices, type ResolvedDevice } from '../../worker/engine/spec/devices.js';

/** Where every bed container's cgroup goes, under the VM's /sys/fs/cgroup. */
const CGROUP_PARENT = 'shoal-cg2';
const SLEEP = ['sleep', '100000'];

interface Bundle {
  args: string[];
  limits?: ResourceOptions;
  /** linux.resources members the engine's types do not cover yet (blockIO), passed as the spec has them */
  extra?: Record<string, unknown>;
  devices?: OciDeviceCgroup[];
  /** `--device` mappings (resolved, as the engine gets them from the host's nodes) and `--device-cgroup-rule`s */
  mapped?: { devices: ResolvedDevice[]; rules: string[] };
}

// The brd ram disk the VM loads is block device 1:0.
const RAM_DISK = { major: 1, minor: 0 };

const BUNDLES: Record<string, Bundle> = {
  memory: { args: SLEEP, limits: { memory: '32m' } },
  oom: { args: ['tail', '/dev/zero'], limits: { memory: '16m' } },
  pids: { args: SLEEP, limits: { pidsLimit: 10 } },
  cpumax: { args: ['sh', '-c', 'while :; do :; done'], limits: { cpus: 0.2 } },
  cpuset: { args: SLEEP, limits: { cpusetCpus: '1', cpusetMems: '0' } },
  weight: { args: SLEEP, limits: { cpuShares: 2048 } },
  io: {
    args: SLEEP,
    extra: {
      blockIO: {
        weight: 300,
        throttleReadBpsDevice: [{ ...RAM_DISK, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ ...RAM_DISK, rate: 100 }],
      },
    },
  },
  // out of range (10 to 1000): a runtime that applies blockIO refuses it
  'io-bad': { args: SLEEP, extra: { blockIO: { weight: 5 } } },
  freeze: { args: SLEEP },
  // the VM has CPUs 0 and 1: the kernel refuses cpuset.cpus 7 (the engine would too, so it is written raw)
  'bad-cpuset': { args: SLEEP, extra: { cpu: { cpus: '7' } } },
  stats: {
    args: ['sh', '-c', 'head -c 4000000 /dev/urandom > /dev/shm/fill; sleep 100000'],
    limits: { memory: '64m' },
  },
  update: { args: SLEEP, limits: { memory: '32m', pidsLimit: 20 } },
  'devices-docker': { args: SLEEP },
  // `--device /dev/ram0:/dev/xram:r --device-cgroup-rule 'c 240:* r'`, through the engine's applyDevices
  'devices-mapped': {
    args: SLEEP,
    mapped: {
      devices: [{ type: 'b', path: '/dev/xram', ...RAM_DISK, fileMode: 0o660, uid: 0, gid: 0, access: 'r' }],
      rules: ['c 240:* r'],
    },
  },
  'devices-rules': {
    args: SLEEP,
    devices: [
      { allow: true, type: 'c', major: 1, minor: 11, access: 'w' },
      { allow: true, type: 'c', major: 240, access: 'rw' },
      // a later deny takes one bit back from an earlier allow, as a write to v1's devices.deny
      { allow: false, type: 'c', major: 240, access: 'w' },
    ],
  },
};

function spec(name: string, b: Bundle): OciSpec {
  const s = baseSpec('/rootfs', { hostname: name });
  s.process.args = b.args;
  const { resources } = resourcesSpec(b.limits ?? {}, 2);
  s.linux!.resources = {
    ...resources,
    ...b.extra,
    devices: [...(s.linux!.resources?.devices ?? []), ...(b.devices ?? [])],
  };
  if (b.mapped) applyDevices(s.linux!, b.mapped.devices, b.mapped.rules);
  s.linux!.cgroupsPath = `/${CGROUP_PARENT}/${name}`;
  return s;
}

const out = process.argv[2];
if (!out) {
  console.error('usage: bundles.ts OUT_DIR');
  process.exit(2);
}
for (const [name, b] of Object.entries(BUNDLES)) {
  mkdirSync(join(out, name), { recursive: true });
  writeFileSync(join(out, name, 'config.json'), JSON.stringify(spec(name, b)));
}
