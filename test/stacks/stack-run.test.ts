// The example stacks running end to end on a local netns cluster (one manager, two workers), as the README's
// first commands deploy them: app.yml (web + cache + worker: the worker reaches web and cache by name over the
// stack's overlay, web's published port answers on every node), secrets.yml through the real docker CLI (the
// secret and the config read in the containers), global.yml (one task per node), then `stack rm` leaving
// nothing. NEEDS the overlay dataplane and the routing mesh (branch net-overlay): until workers attach
// overlays, every stack task (all on STACK_default, as docker does) is rejected and this file fails at the
// first convergence wait.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { type LocalCluster, poll, REPO, uniquePrefix, useLocalCluster } from '../cluster/harness.js';

const IMAGE = resolve(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const EXAMPLES = join(REPO, 'deploy/examples');
const WEB_PORT = 18080;

const cluster = useLocalCluster({ managers: 1, workers: 2, swarm: 'yes', prefix: uniquePrefix('stk') });

async function ok(c: LocalCluster, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await new Promise<{ code: number; out: string }>((res) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/shoal'), '-H', c.node('m1').host, ...args], {
      env: { ...process.env, SHOAL_HOST: '', ...env },
    });
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.on('close', (code) => res({ code: code ?? 1, out }));
  });
  if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} → ${r.code}\n${r.out}`);
  return r.out;
}

async function docker(c: LocalCluster, args: string[]): Promise<string> {
  const r = await new Promise<{ code: number; out: string }>((res) => {
    const p = spawn('docker', ['-H', c.node('m1').host, ...args], {
      env: { ...process.env, DOCKER_CONFIG: '/nonexistent-shoal-docker-config' },
    });
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.on('close', (code) => res({ code: code ?? 1, out }));
  });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} → ${r.code}\n${r.out}`);
  return r.out;
}

/** Every service of the stack at its desired replica count (REPLICAS column "n/n"). */
const converged = (c: LocalCluster, stack: string) =>
  poll(
    `stack ${stack} converged`,
    async () => {
      const rows = (await ok(c, ['stack', 'services', '--format', '{{.Name}} {{.Replicas}}', stack]))
        .trim()
        .split('\n');
      return rows.length > 0 && rows.every((r) => /(\d+)\/\1$/.test(r) && !/ 0\/0$/.test(r)) && rows;
    },
    240_000,
  );

it('app.yml, secrets.yml (docker CLI) and global.yml run on the cluster; stack rm leaves nothing', async () => {
  const c = cluster();
  await Promise.all(
    c.nodes.map(async (n) => expect((await c.shoal(n.name, ['load', '-q', '-i', IMAGE])).code).toBe(0)),
  );

  await ok(c, ['stack', 'deploy', '--resolve-image', 'never', '-c', join(EXAMPLES, 'app.yml'), 'app'], {
    WEB_PORT: String(WEB_PORT),
  });
  expect(await converged(c, 'app')).toEqual(['app_cache 1/1', 'app_web 2/2', 'app_worker 1/1']);
  // The worker reaches web and cache by their service names over app_default.
  await poll('the worker reading web and cache', async () => {
    const logs = await ok(c, ['service', 'logs', '--raw', 'app_worker']);
    return logs.includes('hello from') && logs.includes('42');
  });
  // web's published port answers on every node (the routing mesh).
  for (const n of c.nodes)
    await poll(`web on ${n.name}:${WEB_PORT}`, async () => {
      const r = await c.curlFrom('m1', `http://${n.address}:${WEB_PORT}/`);
      return r.code === 0 && r.stdout.startsWith('hello from');
    });

  await docker(c, [
    'stack',
    'deploy',
    '--resolve-image',
    'never',
    '-c',
    join(EXAMPLES, 'secrets.yml'),
    'vault',
  ]);
  expect(await converged(c, 'vault')).toEqual(['vault_app 2/2']);
  await poll('the secret and the config read in the containers', async () => {
    const logs = await docker(c, ['service', 'logs', '--raw', 'vault_app']);
    return logs.split('secret present').length === 3 && logs.includes('greeting=hello');
  });

  await ok(c, [
    'stack',
    'deploy',
    '--resolve-image',
    'never',
    '--detach=false',
    '-q',
    '-c',
    join(EXAMPLES, 'global.yml'),
    'agents',
  ]);
  expect(await converged(c, 'agents')).toEqual(['agents_agent 3/3']);

  for (const s of ['app', 'vault', 'agents']) await ok(c, ['stack', 'rm', s]);
  await poll('nothing left of the stacks', async () => {
    const svcs = (await ok(c, ['service', 'ls', '-q'])).trim();
    const nets = (
      await ok(c, ['network', 'ls', '--filter', 'label=com.docker.stack.namespace', '-q'])
    ).trim();
    const secrets = (await ok(c, ['secret', 'ls', '-q'])).trim();
    return svcs === '' && nets === '' && secrets === '';
  });
}, 600_000);
