// The cluster figures: a local netns cluster (deploy/local-cluster.sh, a prefix of its own; one
// manager, two workers) runs a busybox httpd service published on PORT (ingress) with its tasks on
// the workers only, so the manager's node has none and its port can only answer through the routing
// mesh. wrk runs from the host namespace (the cluster's bridge is there) against that node's port
// (mesh_rps) and, from the namespace of the node holding it, against one task's own address
// (direct_rps). backend_join_ms: from `service scale` 2 → 3 to the first answer through the published
// port from the new task (every httpd serves its own /etc/hostname). A cluster that refuses published
// ports, or whose port never answers, gives nulls and `skipped` with the reason: nothing is made up.
import { get } from 'node:http';
import { join } from 'node:path';
import { LocalCluster, REPO, uniquePrefix } from '../../cluster/harness.js';
import { type WrkOptions, wrk } from './wrk.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const PORT = 30080;
const SERVICE = 'nbweb';
const log = (m: string) => process.stderr.write(`network bench: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MeshFigures {
  mesh_rps: number[];
  direct_rps: number[];
  backend_join_ms: number | null;
  errors: { mesh: number; direct: number };
  /** why the cluster figures are missing (the whole set), or why one of them is */
  skipped?: string;
  direct_skipped?: string;
  backend_join_skipped?: string;
}

class Skip extends Error {}

interface TaskJson {
  ID: string;
  NodeID: string;
  Status?: { State?: string; Err?: string };
  DesiredState?: string;
  NetworksAttachments?: { Network?: { Spec?: { Name?: string } }; Addresses?: string[] }[];
}

/** One GET with a connection of its own (so the load balancer chooses again); the body or null. */
function fetchBody(host: string, port: number, path: string, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

async function apiOk<T>(c: LocalCluster, method: string, path: string, body?: unknown): Promise<T> {
  const r = await c.api('m1', method, path, body);
  if (r.status >= 400) {
    let msg = r.body;
    try {
      msg = (JSON.parse(r.body) as { message?: string }).message ?? r.body;
    } catch {}
    throw new Skip(`${method} ${path}: ${r.status} ${msg.trim()}`);
  }
  return (r.body ? JSON.parse(r.body) : undefined) as T;
}

async function tasks(c: LocalCluster): Promise<TaskJson[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: { [SERVICE]: true } }));
  return apiOk<TaskJson[]>(c, 'GET', `/tasks?filters=${filters}`);
}

/** Waits until `n` tasks run; a task that failed or was rejected ends the wait with its error. */
async function running(c: LocalCluster, n: number, seconds: number): Promise<TaskJson[]> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const ts = await tasks(c);
    const bad = ts.find((t) => t.Status?.State === 'rejected' || t.Status?.State === 'failed');
    if (bad) throw new Skip(`a task of the published service ${bad.Status?.State}: ${bad.Status?.Err ?? ''}`);
    const up = ts.filter((t) => t.Status?.State === 'running');
    if (up.length >= n) return up;
    if (Date.now() > end) throw new Skip(`${up.length} of ${n} tasks running after ${seconds} s`);
    await sleep(250);
  }
}

/** The task's address (the first of its network attachments that is not the ingress network's, else any). */
function taskIp(t: TaskJson): string | null {
  const atts = t.NetworksAttachments ?? [];
  const pick = atts.find((a) => a.Network?.Spec?.Name !== 'ingress' && a.Addresses?.length) ?? atts[0];
  return pick?.Addresses?.[0]?.split('/')[0] ?? null;
}

async function hostnamesSeen(host: string, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const b = await fetchBody(host, PORT, '/hostname');
    if (b) seen.add(b);
  }
  return seen;
}

export async function measureMesh(runs: number, w: Omit<WrkOptions, 'netns'>): Promise<MeshFigures> {
  const out: MeshFigures = {
    mesh_rps: [],
    direct_rps: [],
    backend_join_ms: null,
    errors: { mesh: 0, direct: 0 },
  };
  const prefix = uniquePrefix('nb');
  let c: LocalCluster | undefined;
  try {
    log(`local cluster ${prefix}: 1 manager, 2 workers`);
    try {
      c = await LocalCluster.up({ managers: 1, workers: 2, prefix, swarm: 'yes' });
    } catch (e) {
      throw new Skip(`the local cluster did not come up: ${(e as Error).message.split('\n')[1] ?? ''}`);
    }
    const cl = c;
    await Promise.all(
      cl.nodes.map(async (n) => {
        const r = await cl.shoal(n.name, ['load', '-q', '-i', TARBALL]);
        if (r.code !== 0) throw new Error(`loading busybox into ${n.name}: ${r.stderr}`);
      }),
    );
    const created = await apiOk<{ ID: string }>(cl, 'POST', '/services/create', {
      Name: SERVICE,
      TaskTemplate: {
        ContainerSpec: { Image: 'busybox:latest', Args: ['httpd', '-f', '-p', '80', '-h', '/etc'] },
        Placement: { Constraints: ['node.role==worker'] },
      },
      Mode: { Replicated: { Replicas: 2 } },
      EndpointSpec: {
        Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: PORT, PublishMode: 'ingress' }],
      },
    });
    const up = await running(cl, 2, 120);
    const m1 = cl.node('m1');
    // The published port of the node without a task answers only through the routing mesh.
    const meshEnd = Date.now() + 60_000;
    while (!(await fetchBody(m1.address, PORT, '/hostname')))
      if (Date.now() > meshEnd)
        throw new Skip(
          `the published port ${PORT} of ${m1.name} (no task there) never answered in 60 s: no routing mesh`,
        );
      else await sleep(250);
    const nodes = await apiOk<{ ID: string; Description?: { Hostname?: string } }[]>(cl, 'GET', '/nodes');
    const nodeOf = (t: TaskJson) => {
      const host = nodes.find((n) => n.ID === t.NodeID)?.Description?.Hostname ?? '';
      return cl.nodes.find((n) => `${prefix}-${n.name}` === host || n.name === host);
    };
    const direct = up.map((t) => ({ ip: taskIp(t), node: nodeOf(t) })).find((x) => x.ip && x.node);
    let directNs: string | undefined;
    if (!direct) out.direct_skipped = 'no running task reports an address and a node';
    else {
      directNs = `/run/netns/${direct.node!.netns}`;
      const probe = await cl.curlFrom(direct.node!.name, `http://${direct.ip}:80/hostname`);
      if (probe.code !== 0) {
        out.direct_skipped = `task address ${direct.ip} unreachable from ${direct.node!.name}: ${probe.stderr.trim()}`;
        directNs = undefined;
      }
    }
    const meshUrl = `http://${m1.address}:${PORT}/hostname`;
    for (let r = 0; r < runs; r++) {
      const m = await wrk(meshUrl, w);
      out.mesh_rps.push(m.rps);
      out.errors.mesh += m.errors;
      log(`run ${r + 1}/${runs}: mesh ${m.rps} req/s`);
      if (directNs && direct) {
        const d = await wrk(`http://${direct.ip}:80/hostname`, { ...w, netns: directNs });
        out.direct_rps.push(d.rps);
        out.errors.direct += d.errors;
        log(`run ${r + 1}/${runs}: direct ${d.rps} req/s`);
      }
    }
    out.backend_join_ms = await backendJoin(cl, created.ID, m1.address, out);
    return out;
  } catch (e) {
    if (!(e instanceof Skip)) throw e;
    out.skipped = e.message;
    log(`cluster figures skipped: ${e.message}`);
    return out;
  } finally {
    if (c) await c.down();
  }
}

/** scale 2 → 3; the time until the new task's hostname first comes back through the published port. */
async function backendJoin(
  c: LocalCluster,
  id: string,
  host: string,
  out: MeshFigures,
): Promise<number | null> {
  const old = await hostnamesSeen(host, 40);
  const svc = await apiOk<{
    Version: { Index: number };
    Spec: { Mode: { Replicated: { Replicas: number } } };
  }>(c, 'GET', `/services/${id}`);
  const spec = structuredClone(svc.Spec);
  spec.Mode.Replicated.Replicas = 3;
  const t0 = performance.now();
  await apiOk(c, 'POST', `/services/${id}/update?version=${svc.Version.Index}`, spec);
  const end = Date.now() + 60_000;
  let joined: number | null = null;
  // Four requesters, each a new connection per request, until one is answered by a task not seen before.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (joined === null && Date.now() < end) {
        const b = await fetchBody(host, PORT, '/hostname', 1000);
        if (b && !old.has(b) && joined === null) joined = performance.now() - t0;
        if (!b) await sleep(5);
      }
    }),
  );
  if (joined === null)
    out.backend_join_skipped = 'the third task never answered through the published port in 60 s';
  return joined === null ? null : Math.round(joined);
}
