// Volumes in services and depends_on, on a one-manager swarm (a real shoald, real containers). Services
// without networks, so that this runs before workers attach overlays: `service create --mount` with a named
// volume (made on demand on the node, its data kept when the task goes, when a task comes back to the node
// and across a shoald restart, and after the service is removed), a read-only bind and a sized tmpfs; and a
// service whose depends_on label holds its task PENDING, with the reason in `service ps`, until its
// dependency's task is healthy.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupSwarm,
  type Daemon,
  docker,
  eventually,
  REPO,
  type Result,
  shoal,
  startShoald,
  stopShoald,
} from '../daemon/harness.js';
import { freePort } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;
let hostDir: string;

const run = async (r: Promise<Result>, what: string): Promise<string> => {
  const x = await r;
  if (x.code !== 0) throw new Error(`${what} → ${x.code}\n${x.stdout}${x.stderr}`);
  return x.stdout;
};
const sh = (args: string[]) => run(shoal(d, args), `shoal ${args.join(' ')}`);
const lines = (s: string) => s.trim().split('\n').filter(Boolean);

const tasks = async (service: string, format = '{{.ID}} {{.CurrentState}}') =>
  lines(
    await sh([
      'service',
      'ps',
      '--no-trunc',
      '--filter',
      'desired-state=running',
      '--format',
      format,
      service,
    ]),
  );

beforeAll(async () => {
  hostDir = mkdtempSync(join(tmpdir(), 'shoal-stack-vol-'));
  d = await startShoald();
  await run(docker(d, ['load', '-i', TARBALL]), 'load');
  const addr = `127.0.0.1:${await freePort()}`;
  await run(docker(d, ['swarm', 'init', '--advertise-addr', addr, '--listen-addr', addr]), 'swarm init');
}, 120_000);

afterAll(async () => {
  await cleanupSwarm(d);
  rmSync(hostDir, { recursive: true, force: true });
}, 120_000);

describe('volumes in services', () => {
  it('a named volume outlives its tasks, their return to the node and a shoald restart; ro bind; sized tmpfs', async () => {
    mkdirSync(join(hostDir, 'conf'));
    const vol = `stkvol${process.pid}`;
    const script = [
      'echo start >> /data/log',
      '(touch /conf/x 2>/dev/null && echo conf-writable || echo conf-readonly) > /data/check',
      "df -k /scratch | awk 'NR==2{print $2}' >> /data/check",
      'exec sleep 100000',
    ].join('; ');
    await sh([
      'service',
      'create',
      '-d',
      '--name',
      'vols',
      '--stop-grace-period',
      '1s',
      '--mount',
      `type=volume,source=${vol},target=/data`,
      '--mount',
      `type=bind,source=${join(hostDir, 'conf')},target=/conf,readonly`,
      '--mount',
      'type=tmpfs,target=/scratch,tmpfs-size=2m',
      'busybox:latest',
      'sh',
      '-c',
      script,
    ]);
    const info = JSON.parse(
      await sh(['volume', 'inspect', vol]).catch(async () => {
        await eventually(
          async () => (await shoal(d, ['volume', 'inspect', vol])).code === 0,
          `volume ${vol}`,
          1200,
        );
        return sh(['volume', 'inspect', vol]);
      }),
    )[0] as { Mountpoint: string; Driver: string };
    expect(info.Driver).toBe('local');
    const log = () => {
      try {
        return readFileSync(join(info.Mountpoint, 'log'), 'utf8');
      } catch {
        return '';
      }
    };
    await eventually(() => log() === 'start\n', 'the first task writing to the volume', 1200);
    await eventually(
      () => readFileSync(join(info.Mountpoint, 'check'), 'utf8').startsWith('conf-readonly\n'),
      'the check file',
      400,
    );
    expect(readFileSync(join(info.Mountpoint, 'check'), 'utf8')).toBe('conf-readonly\n2048\n');

    // The task goes, a new one comes to the same (only) node: same volume, data kept.
    const [first] = await tasks('vols', '{{.ID}}');
    await sh(['service', 'update', '-d', '--force', 'vols']);
    await eventually(
      async () => log() === 'start\nstart\n' && !(await tasks('vols', '{{.ID}}')).includes(first),
      'a second task appending to the same volume',
      1200,
    );

    // shoald restarts: the volume and its data are still there, and a new task sees them.
    expect(await stopShoald(d)).toBe(0);
    expect(log()).toBe('start\nstart\n');
    d = await startShoald(d.dir, d.opts);
    await eventually(async () => (await shoal(d, ['service', 'ls'])).code === 0, 'the manager back', 1200);
    await sh(['service', 'update', '-d', '--force', 'vols']);
    await eventually(() => log() === 'start\nstart\nstart\n', 'a third task after the restart', 1200);

    // The service goes; its volume stays (as in docker).
    await sh(['service', 'rm', 'vols']);
    await eventually(async () => (await tasks('vols').catch(() => [])).length === 0, 'the tasks gone', 1200);
    expect(lines(await sh(['volume', 'ls', '-q']))).toContain(vol);
    expect(log()).toBe('start\nstart\nstart\n');
  }, 240_000);
});

describe('depends_on', () => {
  it("holds a service's tasks, reason shown, until its dependency has a healthy task", async () => {
    await sh([
      'service',
      'create',
      '-d',
      '--name',
      'front',
      '--label',
      'org.shoal.depends-on=backend:healthy',
      'busybox:latest',
      'sleep',
      '100000',
    ]);
    await eventually(
      async () =>
        (await tasks('front', '{{.CurrentState}}|{{.Error}}')).some((l) =>
          /^Pending .*\|"waiting for dependencies: backend does not exist"$/.test(l),
        ),
      'front pending for a missing backend',
      1200,
    );
    await sh([
      'service',
      'create',
      '-d',
      '--name',
      'backend',
      '--health-cmd',
      'test -f /tmp/ready',
      '--health-interval',
      '1s',
      '--health-start-period',
      '60s',
      'busybox:latest',
      'sh',
      '-c',
      'sleep 4; touch /tmp/ready; exec sleep 100000',
    ]);
    // backend started, not healthy yet: front still waits, now for its health.
    await eventually(
      async () => (await tasks('backend', '{{.CurrentState}}')).some((l) => l.startsWith('Starting')),
      'backend starting',
      1200,
    );
    expect((await tasks('front', '{{.CurrentState}}|{{.Error}}'))[0]).toMatch(
      /^Pending .*\|"waiting for dependencies: backend has no healthy task yet"$/,
    );
    await eventually(
      async () => (await tasks('front', '{{.CurrentState}}')).some((l) => l.startsWith('Running')),
      'front running once backend is healthy',
      1200,
    );
    expect((await tasks('backend', '{{.CurrentState}}'))[0]).toMatch(/^Running/);
    // A dependency on itself is refused by the control API, naming the label.
    const self = await shoal(d, [
      'service',
      'create',
      '-d',
      '--name',
      'loop',
      '--label',
      'org.shoal.depends-on=loop',
      'busybox:latest',
      'true',
    ]);
    expect(self.code).not.toBe(0);
    expect(self.stderr).toContain(
      'spec.annotations.labels.org.shoal.depends-on: service loop cannot depend on itself',
    );
    await sh(['service', 'rm', 'front', 'backend']);
  }, 240_000);
});
