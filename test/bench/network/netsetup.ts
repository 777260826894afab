// netsetup_p50_ms: the network setup a container start adds on one node — NetworkManager.prepare +
// connect, as the engine calls them around create and start (the sandbox namespace file, a veth into
// it on the default bridge, address, route, the files docker writes, the record). Run by network.ts
// under `unshare --net`, so no bridge or nftables rule touches the host's namespace; prints one JSON
// line. Also netsetup_ports_p50_ms: the same with one published port (a socket held and the nftables
// table rebuilt).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkManager } from '../../../worker/network/index.js';
import { percentile, round } from '../lib.js';

const N = Math.max(50, Number(process.env.BENCH_N ?? 200));

execFileSync('ip', ['link', 'set', 'lo', 'up']);
const dir = mkdtempSync(join(tmpdir(), 'shoal-netbench-'));
const m = await NetworkManager.open({
  dataRoot: join(dir, 'data'),
  execRoot: join(dir, 'exec'),
  bridgeName: 'shoal0',
  bip: '10.123.0.1/16',
  ipMasq: true,
});

/** Sets up `count` containers' networks one after the other (timing each), then tears them all down. */
const prepareTimes: number[] = [];
const connectTimes: number[] = [];

async function round_(count: number, ports: boolean): Promise<number[]> {
  const ids: string[] = [];
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomBytes(32).toString('hex');
    ids.push(id);
    const t0 = performance.now();
    await m.prepare({
      id,
      name: `c${id.slice(0, 6)}`,
      hostname: id.slice(0, 12),
      domainname: '',
      dir: join(dir, 'c', id),
      opts: ports ? { portBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } } : {},
      imageExposed: [],
    });
    const t1 = performance.now();
    await m.connect(id);
    const t2 = performance.now();
    times.push(t2 - t0);
    if (!ports) {
      prepareTimes.push(t1 - t0);
      connectTimes.push(t2 - t1);
    }
  }
  // Teardown is not part of a start (and a veth's deletion waits for an RCU grace period): untimed.
  for (const id of ids) await m.release(id);
  return times;
}

try {
  await round_(10, false); // warm-up
  prepareTimes.length = connectTimes.length = 0;
  const plain: number[] = [];
  for (let r = 0; r < N / 50; r++) plain.push(...(await round_(50, false)));
  const withPorts = await round_(Math.max(20, N / 4), true);
  console.log(
    JSON.stringify({
      n: N,
      netsetup_p50_ms: round(percentile(plain, 50)),
      netsetup_p90_ms: round(percentile(plain, 90)),
      prepare_p50_ms: round(percentile(prepareTimes, 50)),
      connect_p50_ms: round(percentile(connectTimes, 50)),
      netsetup_ports_p50_ms: round(percentile(withPorts, 50)),
    }),
  );
} finally {
  await m.close({ keepRunning: false });
  rmSync(dir, { recursive: true, force: true });
}
