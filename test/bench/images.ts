// `npm run bench -- images`: image pull and unpack cost, side by side with skopeo.
//   shoal_pull_s       pull of a generated 8-layer image (~200 MB: incompressible and compressible layers,
//                      the busybox rootfs at the bottom) from a local docker-registry by shoald, through
//                      its Engine API (POST /images/create, as `docker pull` against it) into a store
//                      without the image (download + verify + unpack: runnable afterwards; removed
//                      between pulls); shoal_pull_cpu_s is the daemon's CPU for it
//   shoal_lib_pull_s   the same with pullImage in the bench's own process (the library alone)
//   skopeo_pull_s      `skopeo copy docker://… oci:DIR` of the same image (download + verify only)
//   ratio_pull         shoal_pull_s / skopeo_pull_s (target ≤ 1.5)
//   docker_pull_s      `docker pull` by Debian's dockerd (docker.io) of the same image, from a registry on
//                      the same storage (download + verify + unpack into overlay2 layers); dockerd runs in
//                      a network namespace of its own with its own data root, exec root and socket
//   ratio_docker       shoal_pull_s / docker_pull_s (target ≤ 0.5)
//   the pull figures are medians of BENCH_PULLS (default 5) pulls into empty state; *_runs_s lists them all
//   unpack_mb_s        layer unpack throughput from local blobs (uncompressed MB per second)
//   run_cached_p50_ms  create → exit observed of `/bin/true` from the (cached) image through shoald's API
//   run_cached_1layer_p50_ms  the same from the one-layer busybox image
//   run_rootfs_p50_ms  the same with a rootfs directory, the engine's own figure, for comparison
// Prints one JSON object on its last line. Cleans up its daemon, registry and directories.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha256Of } from '../../common/digest.js';
import { ingestLayer } from '../../worker/images/ingest.js';
import { MT } from '../../worker/images/mediatypes.js';
import { RegistryClient } from '../../worker/images/registry/client.js';
import { pullImage } from '../../worker/images/registry/pull.js';
import { ImageStore } from '../../worker/images/store.js';
import type { TarSource } from '../../worker/images/tar/writer.js';
import { cleanup, type Daemon, REPO, ROOTFS, startShoald } from '../daemon/harness.js';
import { dirTar, tarOf } from '../fixtures/steps/images-lib.js';
import { freePort, startRegistry, type TestRegistry } from '../images/registry-harness.js';
import { type Dockerd, haveDockerd, startDockerd, stopDockerd } from './dockerd.js';
import { ApiClient, round } from './lib.js';

const RUNS = Number(process.env.BENCH_N ?? 30);
const PULLS = Number(process.env.BENCH_PULLS ?? 5);
const NS = `shoalimg-${process.pid}`;
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (s: string) => process.stderr.write(`bench images: ${s}\n`);
const CLK_TCK = 100; // USER_HZ: the unit of /proc/<pid>/stat's times on Linux

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, fields 14 and 15). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Files of `size` bytes: random (incompressible) or repetitive text (compresses ~10:1 and more). */
function layerFiles(prefix: string, count: number, size: number, random: boolean): TarSource[] {
  const items: TarSource[] = [{ entry: { name: `${prefix}/`, type: 'dir' } }];
  const line = Buffer.from(`${prefix} compressible line of text with some repetition 0123456789\n`);
  for (let i = 0; i < count; i++) {
    const body = random ? randomBytes(size) : Buffer.alloc(size, line);
    items.push({ entry: { name: `${prefix}/f${i}`, type: 'file', mode: 0o644 }, body });
  }
  return items;
}

async function buildImage(): Promise<{ layers: Buffer[]; gz: Buffer[]; config: Buffer; manifest: Buffer }> {
  const layers = [await dirTar(ROOTFS)];
  for (let i = 0; i < 7; i++) {
    const random = i % 2 === 0; // 4 incompressible layers of 32 MB, 3 compressible of 24 MB
    layers.push(await tarOf(layerFiles(`l${i}`, random ? 32 : 48, random ? 1 << 20 : 512 << 10, random)));
  }
  const gz = layers.map((l) => gzipSync(l, { level: 6 }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Of(l)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256Of(config), size: config.length },
      layers: gz.map((g) => ({ mediaType: MT.ociLayerGzip, digest: sha256Of(g), size: g.length })),
    }),
  );
  return { layers, gz, config, manifest };
}

async function runOnce(api: ApiClient, body: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  const { Id } = JSON.parse(await api.ok('POST', '/containers/create', body)) as { Id: string };
  let headers!: () => void;
  const headersIn = new Promise<void>((r) => {
    headers = r;
  });
  const waited = api.call('POST', `/containers/${Id}/wait?condition=next-exit`, undefined, () => headers());
  await headersIn;
  await api.ok('POST', `/containers/${Id}/start`);
  const w = await waited;
  const ms = performance.now() - t0;
  const code = (JSON.parse(w.body) as { StatusCode: number }).StatusCode;
  if (code !== 0) throw new Error(`/bin/true exited ${code}`);
  await api.ok('DELETE', `/containers/${Id}?force=1`);
  return ms;
}

/**
 * `docker pull` of the same image by Debian's dockerd, PULLS times (the image removed in between, so each
 * pull starts without its layers). dockerd runs in a network namespace of its own; a second
 * docker-registry serving the same storage listens on that namespace's loopback. Returns the seconds
 * of each pull, or why docker was not measured.
 */
async function dockerPulls(reg: TestRegistry, repo: string): Promise<number[] | string> {
  if (!haveDockerd()) return 'dockerd not installed (Debian docker.io): no comparison';
  let dd: Dockerd | undefined;
  let inner: ChildProcess | undefined;
  const port = await freePort();
  try {
    dd = await startDockerd(NS, { config: { 'insecure-registries': [`127.0.0.1:${port}`] } });
    const cfg = join(dd.dir, 'registry.yml');
    await fs.writeFile(
      cfg,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(reg.dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    inner = spawn('ip', ['netns', 'exec', NS, '/usr/bin/docker-registry', 'serve', cfg], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const probe = `exec 3<>/dev/tcp/127.0.0.1/${port}`;
    for (let i = 0; spawnSync('ip', ['netns', 'exec', NS, 'bash', '-c', probe]).status !== 0; i++) {
      if (i > 200 || inner.exitCode !== null) throw new Error('the registry in the namespace did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ref = `127.0.0.1:${port}/${repo}:1`;
    const docker = (...args: string[]) => {
      const r = spawnSync('docker', ['-H', `unix://${dd!.sock}`, ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
    };
    const runs: number[] = [];
    for (let i = 0; i < PULLS; i++) {
      log(`docker pull ${i + 1}/${PULLS}`);
      const t0 = performance.now();
      docker('pull', '-q', ref);
      runs.push((performance.now() - t0) / 1000);
      docker('rmi', ref);
    }
    return runs;
  } catch (e) {
    log(`docker measurement skipped: ${(e as Error).message}`);
    return `docker not measured: ${(e as Error).message.slice(0, 300)}`;
  } finally {
    if (inner && inner.exitCode === null && inner.signalCode === null) {
      inner.kill('SIGTERM');
      await new Promise((r) => inner!.once('exit', r));
    }
    if (dd) await stopDockerd(dd);
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'shoal-bench-images-'));
  const reg = await startRegistry();
  let daemon: Daemon | undefined;
  try {
    log('generating the image');
    const img = await buildImage();
    const totalRaw = img.layers.reduce((n, l) => n + l.length, 0);
    const totalGz = img.gz.reduce((n, l) => n + l.length, 0);
    log(
      `8 layers, ${(totalRaw / 1e6).toFixed(0)} MB uncompressed, ${(totalGz / 1e6).toFixed(0)} MB compressed`,
    );
    const repo = 'bench/big';
    const ref = `${reg.host}/${repo}:1`;
    const client = new RegistryClient(reg.host, repo);
    for (const blob of [...img.gz, img.config]) {
      const loc = await client.startUpload();
      await client.putBlob(loc, sha256Of(blob), blob);
    }
    await client.putManifest('1', MT.ociManifest, img.manifest);

    // shoald first: each round pulls through its Engine API (as `docker pull` against it does), then
    // with pullImage in this process (the library alone), then with skopeo; medians of PULLS rounds
    // a short directory: the engine's control sockets live under it (108-byte socket path limit)
    daemon = await startShoald(mkdtempSync('/tmp/sbi-'));
    const api = new ApiClient(daemon.sock);
    const daemonPid = daemon.proc.pid as number;
    const pullPath = `/images/create?fromImage=${encodeURIComponent(`${reg.host}/${repo}`)}&tag=1`;
    const daemonRuns: number[] = [];
    const daemonCpus: number[] = [];
    const libRuns: number[] = [];
    const libCpus: number[] = [];
    const skopeoRuns: number[] = [];
    const skopeoCpus: number[] = [];
    for (let i = 0; i < PULLS; i++) {
      log(`shoald pull ${i + 1}/${PULLS}`);
      const c0 = cpuSecondsOf(daemonPid);
      const t = performance.now();
      const pulled = await api.call('POST', pullPath);
      if (pulled.status !== 200 || pulled.body.includes('errorDetail'))
        throw new Error(`pull: ${pulled.body}`);
      daemonRuns.push((performance.now() - t) / 1000);
      daemonCpus.push(cpuSecondsOf(daemonPid) - c0);
      await api.ok('DELETE', `/images/${encodeURIComponent(ref)}?force=1`);

      log(`shoal pull (library) ${i + 1}/${PULLS}`);
      const store = await ImageStore.open(join(work, `store${i}`));
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await pullImage(store, ref);
      libRuns.push((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(cpu0);
      libCpus.push((cpu.user + cpu.system) / 1e6);
      await fs.rm(join(work, `store${i}`), { recursive: true, force: true });

      log(`skopeo copy ${i + 1}/${PULLS}`);
      const t1 = performance.now();
      // through /usr/bin/time-like accounting: bash's `times` reports the children's CPU
      const sk = spawnSync(
        'bash',
        [
          '-c',
          'skopeo copy --quiet --src-tls-verify=false "$1" "$2" >/dev/null || exit $?; times',
          'bench',
          `docker://${ref}`,
          `oci:${join(work, `skopeo${i}`)}:1`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      skopeoRuns.push((performance.now() - t1) / 1000);
      // `times` prints two lines; the second is the children's user and system time (0m0.123s 0m0.045s)
      const childTimes = [...(sk.stdout.toString().trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.]+)s/g)];
      skopeoCpus.push(childTimes.reduce((n, m) => n + Number(m[1]) * 60 + Number(m[2]), 0));
      if (sk.status !== 0) throw new Error(`skopeo copy: ${sk.stderr}`);
      await fs.rm(join(work, `skopeo${i}`), { recursive: true, force: true });
    }
    const dockerRuns = await dockerPulls(reg, repo);

    log('unpack throughput');
    const local = await ImageStore.open(join(work, 'unpack'));
    const blobs = img.gz.map((g) => sha256Of(g));
    for (const [i, g] of img.gz.entries()) await local.blobs.put(g, blobs[i]);
    const t2 = performance.now();
    for (const [i, d] of blobs.entries())
      await ingestLayer(local.blobs, local.layers, local.blobs.stream(d) as AsyncIterable<Buffer>, {
        digest: d,
        diffId: sha256Of(img.layers[i]),
      });
    const unpackMbS = totalRaw / 1e6 / ((performance.now() - t2) / 1000);

    let runCached: number | null = null;
    let runRootfs: number | null = null;
    let runOneLayer: number | null = null;
    try {
      log('shoal run from the cached image');
      const pulled = await api.call('POST', pullPath);
      if (pulled.status !== 200 || pulled.body.includes('errorDetail'))
        throw new Error(`pull: ${pulled.body}`);
      const loaded = spawnSync(process.execPath, [
        join(REPO, 'bin/shoal'),
        '-H',
        `unix://${daemon.sock}`,
        'load',
        '-i',
        join(REPO, 'test/fixtures/out/images/busybox.docker.tar'),
      ]);
      if (loaded.status !== 0) throw new Error(`load busybox: ${loaded.stderr}`);
      const host = { NetworkMode: 'none' };
      const image: number[] = [];
      const oneLayer: number[] = [];
      const rootfs: number[] = [];
      await runOnce(api, { Image: ref, Cmd: ['/bin/true'], HostConfig: host });
      for (let i = 0; i < RUNS; i++) {
        image.push(await runOnce(api, { Image: ref, Cmd: ['/bin/true'], HostConfig: host }));
        oneLayer.push(await runOnce(api, { Image: 'busybox', Cmd: ['/bin/true'], HostConfig: host }));
        rootfs.push(await runOnce(api, { Rootfs: ROOTFS, Cmd: ['/bin/true'], HostConfig: host }));
      }
      runCached = round(p50(image));
      runOneLayer = round(p50(oneLayer));
      runRootfs = round(p50(rootfs));
      api.close();
    } catch (e) {
      log(`run measurement skipped: ${(e as Error).message}`);
    }

    const result = {
      shoal_pull_s: round(p50(daemonRuns), 3),
      skopeo_pull_s: round(p50(skopeoRuns), 3),
      ratio_pull: round(p50(daemonRuns) / p50(skopeoRuns), 3),
      docker_pull_s: typeof dockerRuns === 'string' ? null : round(p50(dockerRuns), 3),
      ratio_docker: typeof dockerRuns === 'string' ? null : round(p50(daemonRuns) / p50(dockerRuns), 3),
      ...(typeof dockerRuns === 'string' ? { docker: dockerRuns } : {}),
      shoal_lib_pull_s: round(p50(libRuns), 3),
      shoal_pull_cpu_s: round(p50(daemonCpus), 3),
      shoal_lib_pull_cpu_s: round(p50(libCpus), 3),
      skopeo_pull_cpu_s: round(p50(skopeoCpus), 3),
      pulls: PULLS,
      shoal_pull_runs_s: daemonRuns.map((x) => round(x, 3)),
      shoal_lib_pull_runs_s: libRuns.map((x) => round(x, 3)),
      skopeo_pull_runs_s: skopeoRuns.map((x) => round(x, 3)),
      docker_pull_runs_s: typeof dockerRuns === 'string' ? null : dockerRuns.map((x) => round(x, 3)),
      unpack_mb_s: round(unpackMbS, 1),
      run_cached_p50_ms: runCached,
      run_cached_1layer_p50_ms: runOneLayer,
      run_rootfs_p50_ms: runRootfs,
      image_mb: round(totalRaw / 1e6, 1),
      image_compressed_mb: round(totalGz / 1e6, 1),
      layers: img.layers.length,
    };
    console.log(JSON.stringify(result));
  } finally {
    if (daemon) await cleanup(daemon).catch(() => {});
    await reg.stop();
    await fs
      .rm(work, { recursive: true, force: true })
      .catch(() => rmSync(work, { recursive: true, force: true }));
  }
}

await main();
