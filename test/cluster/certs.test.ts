// Certificates and cluster settings on a real swarm (issue 12): two managers and a worker, each a shoald in
// its own network namespace. Cluster settings set with `shoal swarm update` show in `swarm inspect` and take
// effect (the worker's agent follows the heartbeat period, the task history is pruned to the limit, raft takes
// the snapshot interval); bad values are refused naming the field, changing nothing. A root CA rotation with a
// service running leaves every task (same ids, same container start times) and ends with every node on the
// new root alone; a second rotation asked during one is refused. With short certificates (the test-only floor
// SHOAL_TEST_MIN_CERT_EXPIRY, see manager/ca/README.md) nodes renew by themselves, sessions going on. A
// rotated worker join token refuses new joins while the nodes already in stay.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiJson, DATA_BASE, type LocalCluster, poll, useLocalCluster } from './harness.js';

// Certificates may be as short as 20 s here (the shoalds inherit it from this process through the script).
process.env.SHOAL_TEST_MIN_CERT_EXPIRY = '20';

const IMAGE = resolve('test/fixtures/out/images/busybox.docker.tar');
const M = 'm1';

interface SwarmJson {
  Version: { Index: number };
  Spec: {
    Orchestration: { TaskHistoryRetentionLimit: number };
    Raft: Record<string, number>;
    Dispatcher: { HeartbeatPeriod?: number };
    CAConfig: { NodeCertExpiry?: number; ForceRotate?: number };
  } & Record<string, unknown>;
  TLSInfo: { TrustRoot: string };
  RootRotationInProgress: boolean;
  JoinTokens: { Worker: string; Manager: string };
}

interface NodeJson {
  ID: string;
  Description: { Hostname: string; TLSInfo?: { TrustRoot?: string } };
  Status: { State: string };
}

interface TaskJson {
  ID: string;
  Slot?: number;
  DesiredState: string;
  Status: { State: string; ContainerStatus?: { ContainerID?: string } };
}

const swarmOf = (c: LocalCluster) => apiJson<SwarmJson>(c, M, 'GET', '/swarm');
const log = (c: LocalCluster, node: string) =>
  readFile(join(DATA_BASE, c.prefix, c.node(node).name, 'shoald.log'), 'utf8');
const nodeCert = async (c: LocalCluster, node: string) => {
  const dir = join(DATA_BASE, c.prefix, c.node(node).name, 'data/swarm/certificates');
  return {
    cert: new X509Certificate(await readFile(join(dir, 'node.crt'), 'utf8')),
    root: await readFile(join(dir, 'root-ca.crt'), 'utf8'),
  };
};
/** The raft snapshot files (<term>-<index>.snap) in a manager's data. */
const snapshots = async (c: LocalCluster, node: string) =>
  (await readdir(join(DATA_BASE, c.prefix, c.node(node).name, 'data/swarm/raft'), { recursive: true }))
    .filter((f) => f.endsWith('.snap'))
    .sort();
const tasksOf = (c: LocalCluster, svc: string) =>
  apiJson<TaskJson[]>(
    c,
    M,
    'GET',
    `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [svc] }))}`,
  );

/** Every running container of the service on every node: container id → its start time. */
async function containerStarts(c: LocalCluster, svc: string): Promise<Map<string, string>> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${svc}`] }));
  const out = new Map<string, string>();
  for (const n of c.nodes) {
    const list = await apiJson<{ Id: string }[]>(c, n.name, 'GET', `/containers/json?filters=${f}`);
    for (const x of list) {
      const info = await apiJson<{ State: { StartedAt: string } }>(
        c,
        n.name,
        'GET',
        `/containers/${x.Id}/json`,
      );
      out.set(x.Id, info.State.StartedAt);
    }
  }
  return out;
}

async function shoalOk(c: LocalCluster, node: string, args: string[]): Promise<string> {
  const r = await c.shoal(node, args);
  if (r.code !== 0) throw new Error(`shoal ${args.join(' ')}: ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe('certificates and cluster settings', () => {
  const cluster = useLocalCluster({ managers: 2, workers: 1 });

  beforeAll(async () => {
    const c = cluster();
    expect(c.swarm).toBe(true);
    await Promise.all(c.nodes.map((n) => shoalOk(c, n.name, ['load', '-q', '-i', IMAGE])));
    await shoalOk(c, M, [
      'service',
      'create',
      '-d',
      '--name',
      'web',
      '--replicas',
      '3',
      'busybox',
      'sleep',
      '3600',
    ]);
    await poll(
      '3 running tasks of web',
      async () => {
        const t = await tasksOf(c, 'web');
        return t.filter((x) => x.Status.State === 'running').length === 3;
      },
      120_000,
    );
  }, 240_000);

  it('swarm update: bad values are refused naming the field and change nothing', async () => {
    const c = cluster();
    const before = await swarmOf(c);
    const bad: [string[], RegExp][] = [
      [['--cert-expiry', '5s'], /node_cert_expiry.*below the minimum certificate expiry of 20s/],
      [['--dispatcher-heartbeat', '50ms'], /heartbeat_period.*below the minimum of 100ms/],
      [['--snapshot-interval', 'x'], /snapshot-interval/],
      [['--dispatcher-heartbeat', 'soon'], /dispatcher-heartbeat/],
      [['--max-snapshots', '3'], /keep_old_snapshots.*only the latest/],
    ];
    for (const [args, re] of bad) {
      const r = await c.shoal(M, ['swarm', 'update', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(re);
    }
    // The raw API: a field the CLI has no flag for.
    const spec = structuredClone(before.Spec);
    spec.Raft.ElectionTick = 25;
    const r = await c.api(M, 'POST', `/swarm/update?version=${before.Version.Index}`, spec);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/election_tick: cannot be changed/);
    const after = await swarmOf(c);
    expect(after.Version.Index).toBe(before.Version.Index);
    expect(after.Spec).toEqual(before.Spec);
  });

  it('swarm update: the settings show in inspect and take effect', { timeout: 300_000 }, async () => {
    const c = cluster();
    await shoalOk(c, M, [
      'swarm',
      'update',
      '--task-history-limit',
      '1',
      '--dispatcher-heartbeat',
      '3s',
      '--snapshot-interval',
      '40',
    ]);
    const s = await swarmOf(c);
    expect(s.Spec.Orchestration.TaskHistoryRetentionLimit).toBe(1);
    expect(s.Spec.Dispatcher.HeartbeatPeriod).toBe(3e9);
    expect(s.Spec.Raft.SnapshotInterval).toBe(40);
    const inspected = JSON.parse(await shoalOk(c, 'm2', ['swarm', 'inspect']))[0] as SwarmJson;
    expect(inspected.Spec.Dispatcher.HeartbeatPeriod).toBe(3e9);
    // The worker's agent beats at the new period (the dispatcher's answers carry it).
    await poll('the worker beating every 3 s (give or take the jitter)', async () =>
      [...(await log(c, 'w1')).matchAll(/heartbeat period (\d+) ms/g)].some(
        (m) => Math.abs(Number(m[1]) - 3000) < 750,
      ),
    );
    // Each manager's raft took the interval: 60 writes make a snapshot that the default 10,000 would not.
    const snapsBefore = await snapshots(c, 'm2');
    for (let i = 0; i < 60; i++) {
      const cur = await swarmOf(c);
      const spec = structuredClone(cur.Spec);
      spec.Labels = { round: String(i) };
      await apiJson(c, M, 'POST', `/swarm/update?version=${cur.Version.Index}`, spec);
    }
    await poll('a new raft snapshot on m2', async () =>
      (await snapshots(c, 'm2')).some((f) => !snapsBefore.includes(f)),
    );
    for (const m of ['m1', 'm2'])
      await poll(`${m} snapshotting every 40 entries`, async () =>
        (await log(c, m)).includes('raft: snapshot every 40 entries'),
      );
    // History: the limit counts the live task (as Docker's): force-updated three times, only the running task is left.
    await shoalOk(c, M, ['service', 'create', '-d', '--name', 'hist', 'busybox', 'sleep', '3600']);
    for (let i = 0; i < 3; i++) await shoalOk(c, M, ['service', 'update', '-d', '--force', 'hist']);
    await poll(
      'hist pruned to its running task',
      async () => {
        const t = await tasksOf(c, 'hist');
        return t.length === 1 && t.some((x) => x.Status.State === 'running' && x.DesiredState === 'running');
      },
      120_000,
    );
    await shoalOk(c, M, ['service', 'rm', 'hist']);
  });

  it('a root CA rotation with a service running: no task restarted, every node on the new root alone; a second one during it is refused', {
    timeout: 300_000,
  }, async () => {
    const c = cluster();
    const before = await swarmOf(c);
    const tasksBefore = (await tasksOf(c, 'web'))
      .filter((t) => t.DesiredState === 'running')
      .map((t) => t.ID);
    const startsBefore = await containerStarts(c, 'web');
    expect(startsBefore.size).toBe(3);

    // Two requests one after the other, through the API (fast enough to fall inside the first).
    const spec = structuredClone(before.Spec);
    spec.CAConfig = { ...spec.CAConfig, ForceRotate: (before.Spec.CAConfig.ForceRotate ?? 0) + 1 };
    await apiJson(c, M, 'POST', `/swarm/update?version=${before.Version.Index}`, spec);
    const during = await swarmOf(c);
    const again = structuredClone(during.Spec);
    again.CAConfig = { ...again.CAConfig, ForceRotate: (during.Spec.CAConfig.ForceRotate ?? 0) + 1 };
    const r = await c.api(M, 'POST', `/swarm/update?version=${during.Version.Index}`, again);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.body).toMatch(/rotation is already in progress/);
    expect((await swarmOf(c)).Spec.CAConfig.ForceRotate).toBe(during.Spec.CAConfig.ForceRotate);

    // `swarm ca` (no --rotate) waits for nothing; the docker-style follow is `swarm ca --rotate`'s, shown below.
    const done = await poll(
      'the rotation to complete',
      async () => {
        const s = await swarmOf(c);
        return !s.RootRotationInProgress && s.TLSInfo.TrustRoot !== before.TLSInfo.TrustRoot && s;
      },
      180_000,
    );
    const newRoot = done.TLSInfo.TrustRoot;
    expect(await shoalOk(c, 'm2', ['swarm', 'ca'])).toBe(newRoot);
    for (const n of c.nodes) {
      const { cert, root } = await nodeCert(c, n.name);
      expect(root.trim(), n.name).toBe(newRoot.trim());
      expect(cert.verify(new X509Certificate(newRoot).publicKey), n.name).toBe(true);
    }
    const nodes = await apiJson<NodeJson[]>(c, M, 'GET', '/nodes');
    expect(nodes.every((n) => n.Status.State === 'ready')).toBe(true);
    // The join tokens now carry the new root's digest.
    expect(done.JoinTokens.Worker).not.toBe(before.JoinTokens.Worker);
    expect(done.JoinTokens.Worker.split('-').at(-1)).toBe(before.JoinTokens.Worker.split('-').at(-1));

    const tasksAfter = (await tasksOf(c, 'web')).filter((t) => t.DesiredState === 'running').map((t) => t.ID);
    expect(tasksAfter.sort()).toEqual(tasksBefore.sort());
    expect(await containerStarts(c, 'web')).toEqual(startsBefore);
  });

  it('swarm ca --rotate follows the rotation to the end and prints the new root', {
    timeout: 300_000,
  }, async () => {
    const c = cluster();
    const before = await swarmOf(c);
    const r = await c.shoal(M, ['swarm', 'ca', '--rotate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rotated CA certificates: 3\/3 nodes/);
    const after = await swarmOf(c);
    expect(r.stdout).toBe(after.TLSInfo.TrustRoot);
    expect(after.TLSInfo.TrustRoot).not.toBe(before.TLSInfo.TrustRoot);
    expect(after.RootRotationInProgress).toBe(false);
  });

  it('the docker CLI: swarm ca --rotate follows the rotation and prints the new root; swarm update refuses by name', {
    timeout: 300_000,
  }, async () => {
    const c = cluster();
    const docker = (args: string[]) => c.inNetns('m2', 'docker', ['-H', c.node('m2').host, ...args]);
    const before = await swarmOf(c);
    const r = await docker(['swarm', 'ca', '--rotate']);
    expect(r.code, r.stderr).toBe(0);
    const after = await swarmOf(c);
    expect(after.TLSInfo.TrustRoot).not.toBe(before.TLSInfo.TrustRoot);
    expect(r.stdout).toContain(after.TLSInfo.TrustRoot.trim());
    expect((await docker(['swarm', 'ca'])).stdout).toContain(after.TLSInfo.TrustRoot.trim());
    const bad = await docker(['swarm', 'update', '--cert-expiry', '5s']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/node_cert_expiry/);
    const ok = await docker(['swarm', 'update', '--task-history-limit', '2']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await swarmOf(c)).Spec.Orchestration.TaskHistoryRetentionLimit).toBe(2);
  });

  it('short certificates renew by themselves while sessions and tasks go on', {
    timeout: 400_000,
  }, async () => {
    const c = cluster();
    const startsBefore = await containerStarts(c, 'web');
    await shoalOk(c, M, ['swarm', 'update', '--cert-expiry', '40s']);
    expect((await swarmOf(c)).Spec.CAConfig.NodeCertExpiry).toBe(40e9);
    // The next certificates are 40 s ones; a rotation makes every node take one now.
    await shoalOk(c, M, ['swarm', 'ca', '--rotate', '-q']);
    const first = new Map<string, string>();
    for (const n of c.nodes) {
      const { cert } = await nodeCert(c, n.name);
      first.set(n.name, cert.serialNumber);
      const life = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
      expect(life, n.name).toBeLessThan(2 * 3600_000); // 40 s plus the hour it is backdated
    }
    // Then each renews on its own, 50–80 % into its 40 s: twice, so a renewed certificate renews too.
    for (const n of c.nodes) {
      const seen = new Set([first.get(n.name)]);
      await poll(
        `${n.name} renewing twice`,
        async () => {
          seen.add((await nodeCert(c, n.name)).cert.serialNumber);
          return seen.size >= 3;
        },
        180_000,
      );
    }
    expect(
      (await log(c, 'w1')).match(/certificate renewed \(scheduled renewal\)/g)?.length,
    ).toBeGreaterThanOrEqual(2);
    // The worker's session went on through the renewals: still ready, nothing restarted.
    const nodes = await apiJson<NodeJson[]>(c, M, 'GET', '/nodes');
    expect(nodes.every((n) => n.Status.State === 'ready')).toBe(true);
    expect(await containerStarts(c, 'web')).toEqual(startsBefore);
    // Long certificates again, so the cluster does not churn for the rest of the file.
    await shoalOk(c, M, ['swarm', 'update', '--cert-expiry', '2160h']);
  });

  it('join-token --rotate: the old token joins no one, the nodes already in stay', {
    timeout: 300_000,
  }, async () => {
    const c = cluster();
    const old = (await shoalOk(c, M, ['swarm', 'join-token', '-q', 'worker'])).trim();
    const rotated = await shoalOk(c, M, ['swarm', 'join-token', '--rotate', 'worker']);
    expect(rotated).toMatch(/Successfully rotated worker join token/);
    const fresh = (await shoalOk(c, M, ['swarm', 'join-token', '-q', 'worker'])).trim();
    expect(fresh).not.toBe(old);
    const managerToken = (await shoalOk(c, M, ['swarm', 'join-token', '-q', 'manager'])).trim();
    expect(managerToken).not.toBe(fresh);

    const startsBefore = await containerStarts(c, 'web');
    // w1 leaves and comes back: with the old token it is refused, with the new one it joins.
    await shoalOk(c, 'w1', ['swarm', 'leave']);
    const m1 = c.node(M);
    const addr = `${m1.address}:2377`;
    const refused = await c.shoal('w1', [
      'swarm',
      'join',
      '--token',
      old,
      '--advertise-addr',
      c.node('w1').address,
      addr,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/secret is not valid \(wrong or rotated token\)/);
    await shoalOk(c, 'w1', [
      'swarm',
      'join',
      '--token',
      fresh,
      '--advertise-addr',
      c.node('w1').address,
      addr,
    ]);
    // The other nodes' tasks were never touched.
    const after = await containerStarts(c, 'web');
    for (const [id, at] of after) if (startsBefore.has(id)) expect(at).toBe(startsBefore.get(id));
  });
});
