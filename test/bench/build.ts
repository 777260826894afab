// `npm run bench -- build`: the same small multi-stage Dockerfile built by shoal (`shoal build` against
// shoald) and by Debian's docker.io (dockerd's classic builder, `DOCKER_BUILDKIT=0 docker build`), each
// on its own state: dockerd runs in a network namespace this bench creates, with its own data root,
// exec root, socket, /run/docker and /run/containerd (as ../shared/anchors/swarm does).
//   cold_s      a build with no usable cache (nocache=1)
//   warm_s      the same build again: every step a cache hit
//   one_file_s  one COPY'd file changed: the steps from that COPY on run again
//   docker_*    the same figures for docker's classic builder; ratio_* = shoal / docker (target ≤ 0.5)
// Both daemons get the same client: the context tarred (tar(1), before the clock starts) and sent to POST /build,
// the JSON stream read to its end, so CLI start-up (node's for shoal, Go's for docker) is no part of the figures.
// cli_* are the same three with the real CLIs (`shoal build`, `DOCKER_BUILDKIT=0 docker build`), for reference.
// Medians of BENCH_N runs (default 3). Prints one JSON object on its last line. Cleans up everything.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, type Daemon, REPO, shoal, startShoald } from '../daemon/harness.js';
import { type Dockerd, haveDockerd, startDockerd, stopDockerd } from './dockerd.js';
import { round } from './lib.js';

const RUNS = Number(process.env.BENCH_N ?? 3);
const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
const NS = `shoalbuild-${process.pid}`;
const log = (s: string) => process.stderr.write(`bench build: ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const DOCKERFILE = `FROM busybox AS build
COPY src/ /src/
RUN cd /src && cat *.txt > /out.txt && wc -c /out.txt
FROM busybox
COPY --from=build /out.txt /app/out.txt
COPY app.txt /app/
RUN echo built > /app/done && ls /app
ENV MODE=production
WORKDIR /app
CMD ["cat", "/app/out.txt"]
`;

function makeContext(dir: string): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  for (let i = 0; i < 50; i++) writeFileSync(join(dir, 'src', `f${i}.txt`), `file ${i}\n`.repeat(200));
  writeFileSync(join(dir, 'app.txt'), 'app v0\n');
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The context as a tar (what both CLIs send): made before the clock starts, for both daemons alike. */
function contextTar(ctx: string): Buffer {
  return spawnSync('tar', ['-c', '-f', '-', '--owner=0', '--group=0', '-C', ctx, '.'], { maxBuffer: 1 << 28 })
    .stdout;
}

/** POST /build of a context tar to `sock`, the JSON stream read to its end; throws on an in-band error. */
function apiBuild(sock: string, tar: Buffer, noCache: boolean): Promise<void> {
  const q = `t=bench:1&q=1&rm=1${noCache ? '&nocache=1' : ''}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: sock,
        method: 'POST',
        path: `/v1.41/build?${q}`,
        headers: { 'Content-Type': 'application/x-tar' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () =>
          res.statusCode === 200 && !text.includes('"error"')
            ? resolve()
            : reject(new Error(`build: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(tar);
  });
}

/** `build` timed against the API: the context tarred first, outside the clock. */
const viaApi = (sock: string, ctx: string) => (noCache: boolean) => {
  const tar = contextTar(ctx);
  return { run: () => apiBuild(sock, tar, noCache) };
};

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

interface Figures {
  cold: number;
  warm: number;
  oneFile: number;
}

type Build = (noCache: boolean) => { run: () => Promise<void> | void };

async function measure(build: Build, ctx: string): Promise<Figures> {
  const cold: number[] = [];
  const warm: number[] = [];
  const oneFile: number[] = [];
  const one = (noCache: boolean) => {
    const b = build(noCache);
    return timed(b.run);
  };
  for (let i = 0; i < RUNS; i++) {
    cold.push(await one(true));
    warm.push(await one(false));
    writeFileSync(join(ctx, 'app.txt'), `app v${i + 1}\n`);
    oneFile.push(await one(false));
  }
  return { cold: median(cold), warm: median(warm), oneFile: median(oneFile) };
}

async function main(): Promise<void> {
  const ctxShoal = mkdtempSync(join(tmpdir(), 'shoal-bench-ctx-'));
  const ctxDocker = mkdtempSync(join(tmpdir(), 'shoal-bench-ctx-'));
  makeContext(ctxShoal);
  makeContext(ctxDocker);
  let d: Daemon | undefined;
  let dd: Dockerd | undefined;
  const out: Record<string, unknown> = { bench: 'build', runs: RUNS };
  try {
    d = await startShoald();
    const daemon = d;
    await shoal(daemon, ['load', '-i', TARBALL]);
    log('shoal');
    const s = await measure(viaApi(daemon.sock, ctxShoal), ctxShoal);
    Object.assign(out, {
      cold_s: round(s.cold, 3),
      warm_s: round(s.warm, 3),
      one_file_s: round(s.oneFile, 3),
    });
    const sc = await measure(
      (noCache) => ({
        run: async () => {
          const r = await shoal(daemon, [
            'build',
            '-q',
            ...(noCache ? ['--no-cache'] : []),
            '-t',
            'bench:1',
            ctxShoal,
          ]);
          if (r.code !== 0) throw new Error(`shoal build: ${r.stderr}`);
        },
      }),
      ctxShoal,
    );
    Object.assign(out, {
      cli_cold_s: round(sc.cold, 3),
      cli_warm_s: round(sc.warm, 3),
      cli_one_file_s: round(sc.oneFile, 3),
    });
    if (!haveDockerd()) {
      out.docker = 'dockerd not installed (Debian docker.io): no comparison';
    } else {
      log('docker (classic builder)');
      dd = await startDockerd(NS);
      const env = {
        ...process.env,
        DOCKER_BUILDKIT: '0',
        DOCKER_HOST: `unix://${dd.sock}`,
        DOCKER_CONFIG: join(dd.dir, 'cli'),
      };
      sh('docker', ['load', '-i', TARBALL], env);
      out.docker_version = sh('docker', ['version', '--format', '{{.Server.Version}}'], env).trim();
      const dockerd = dd;
      const k = await measure(viaApi(dockerd.sock, ctxDocker), ctxDocker);
      const kc = await measure(
        (noCache) => ({
          run: () =>
            void sh(
              'docker',
              ['build', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'bench:1', ctxDocker],
              env,
            ),
        }),
        ctxDocker,
      );
      Object.assign(out, {
        docker_cli_cold_s: round(kc.cold, 3),
        docker_cli_warm_s: round(kc.warm, 3),
        docker_cli_one_file_s: round(kc.oneFile, 3),
      });
      Object.assign(out, {
        docker_cold_s: round(k.cold, 3),
        docker_warm_s: round(k.warm, 3),
        docker_one_file_s: round(k.oneFile, 3),
        ratio_cold: round(s.cold / k.cold, 3),
        ratio_warm: round(s.warm / k.warm, 3),
        ratio_one_file: round(s.oneFile / k.oneFile, 3),
      });
    }
  } finally {
    if (dd) await stopDockerd(dd);
    await cleanup(d);
    rmSync(ctxShoal, { recursive: true, force: true });
    rmSync(ctxDocker, { recursive: true, force: true });
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
