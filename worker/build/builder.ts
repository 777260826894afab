// The classic builder: runs a parsed Dockerfile step by step. Each step starts from the previous
// step's image (config + layers); RUN runs a container of the engine on it, COPY/ADD write into an
// overlay mount over it, and the overlay's upper dir becomes the step's layer. Every step is looked
// up in the cache first. Only the stages the target needs are built. Messages follow the classic
// builder's stream (`Step 3/9 : COPY …`, ` ---> Using cache`, ` ---> 1a2b3c4d5e6f`).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { type Digest, sha256Of } from '../../common/digest.js';
import { ShoalError } from '../../common/errors.js';
import { familiarString, formatReference, parseReference } from '../../common/reference.js';
import { type ContainerManager, resolveUser, rootfsReader } from '../engine/index.js';
import {
  buildOciManifest,
  type ContainerConfig,
  type ImageConfig,
  type ImageStore,
  type LayerRef,
  MT,
  parseImageConfig,
} from '../images/index.js';
import { type BuildCache, cacheKey } from './cache.js';
import type { BuildContext } from './context.js';
import { CopyError, copySources, findSources, hashSources, type Source } from './copy.js';
import { commitLayer, isEmptyDir } from './diff.js';
import {
  type Dockerfile,
  DockerfileError,
  type Instruction,
  parseDockerfile,
  type Stage,
} from './dockerfile.js';
import {
  applyMeta,
  type BuildConfig,
  commandOf,
  DEFAULT_SHELL,
  PROXY_ARGS,
  parseArgDecls,
  varsOf,
} from './instructions.js';
import { mountOverlay, type Overlay } from './overlay.js';
import { expandWord, expandWords } from './words.js';

export interface BuildRequest {
  dockerfileName: string;
  /** -t references as given */
  tags: string[];
  buildArgs: Record<string, string | null>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  /** the network RUN steps get: none (default) or host */
  networkMode?: string;
  platform?: string;
}

export interface BuildDeps {
  store: ImageStore;
  engine: ContainerManager;
  cache: BuildCache;
  /** a directory of this build's own (removed by the caller) */
  workDir: string;
  /** fetches an image into the store (base images missing or with --pull) */
  pull(ref: string, say: (line: string) => void): Promise<void>;
  now(): Date;
  signal?: AbortSignal;
}

export interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
}

export interface BuildResult {
  id: Digest;
  tags: string[];
}

/** A build step failed; the message names the Dockerfile line. */
export class BuildStepError extends ShoalError {
  constructor(message: string) {
    super('invalid_argument', message);
    this.name = 'BuildStepError';
  }
}

/** One step's image: what the next step starts from. */
interface StepImage {
  id: Digest;
  bytes: Buffer;
  doc: ImageConfig;
  layers: LayerRef[];
}

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** Docker layer media types as an OCI manifest names them (the images shoal writes are OCI). */
export const OCI_LAYER: Record<string, string> = {
  [MT.dockerLayerGzip]: MT.ociLayerGzip,
  [MT.dockerLayerForeign]: MT.ociLayerNondistGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MT.ociLayer,
};

function stepImage(doc: ImageConfig, layers: LayerRef[]): StepImage {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { id: sha256Of(bytes), bytes, doc, layers };
}

function isSupportedPlatform(p: string | undefined): boolean {
  return !p || p === 'linux/amd64' || p === 'linux' || p === 'linux/amd64/v1';
}

export async function runBuild(
  ctx: BuildContext,
  req: BuildRequest,
  deps: BuildDeps,
  out: (m: BuildMessage) => void,
): Promise<BuildResult> {
  const say = (s: string) => out({ stream: s.endsWith('\n') ? s : `${s}\n` });
  const file = req.dockerfileName || 'Dockerfile';
  const df = parseDockerfile(ctx.dockerfile, file);
  if (!isSupportedPlatform(req.platform))
    throw new ShoalError('invalid_argument', `platform ${req.platform}: shoal builds for linux/amd64 only`, {
      field: 'platform',
    });
  if (req.networkMode && !['none', 'host', 'default'].includes(req.networkMode))
    throw new ShoalError(
      'invalid_argument',
      `network mode "${req.networkMode}": a build's RUN steps use none or host`,
      {
        field: 'networkmode',
      },
    );
  const tags = req.tags.map((t) => {
    try {
      const r = parseReference(t);
      if (r.digest) throw new Error('a tag cannot hold a digest');
      return formatReference(r);
    } catch (e) {
      throw new ShoalError('invalid_argument', `invalid tag "${t}": ${(e as Error).message}`, { field: 't' });
    }
  });
  const b = new Builder(ctx, req, deps, df, say);
  try {
    return await finish(b, await b.run(), tags, req, deps, out, say);
  } finally {
    b.release(); // the image (or the cache) holds what it needs now
  }
}

async function finish(
  b: Builder,
  final: StepImage,
  tags: string[],
  req: BuildRequest,
  deps: BuildDeps,
  out: (m: BuildMessage) => void,
  say: (s: string) => void,
): Promise<BuildResult> {
  out({ aux: { ID: final.id } });
  // an image already in the store (the base itself, or an earlier build's result) is only tagged:
  // registering it again would give it another manifest
  const layers = final.layers.map((l) => ({ ...l, mediaType: OCI_LAYER[l.mediaType] ?? l.mediaType }));
  const rec =
    deps.store.resolve(final.id) ??
    (await deps.store.register({
      manifest: buildOciManifest(sha256Of(final.bytes), final.bytes.length, layers),
      manifestMediaType: MT.ociManifest,
      config: final.bytes,
      configMediaType: MT.ociConfig,
      layers,
      tags: [],
    }));
  for (const t of tags) await deps.store.tag(rec.id, t);
  say(`Successfully built ${short(rec.id)}`);
  for (const t of tags) say(`Successfully tagged ${familiarString(parseReference(t))}`);
  const unused = Object.keys(req.buildArgs).filter((k) => !b.consumed.has(k) && !PROXY_ARGS.includes(k));
  if (unused.length) say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);
  return { id: rec.id, tags };
}

class Builder {
  readonly consumed = new Set<string>();
  private readonly results = new Map<number, StepImage>();
  private readonly leases: (() => void)[] = [];
  private readonly metaVars = new Map<string, string>();
  private stepNo = 0;
  private readonly total: number;
  private empty = '';
  private n = 0;

  constructor(
    private readonly ctx: BuildContext,
    private readonly req: BuildRequest,
    private readonly deps: BuildDeps,
    private readonly df: Dockerfile,
    private readonly say: (s: string) => void,
  ) {
    const labels = Object.keys(req.labels ?? {}).length > 0 ? 1 : 0;
    this.total = this.stepsUpTo(this.targetStage()) + labels;
  }

  release(): void {
    for (const r of this.leases.splice(0)) r();
  }

  private fail(ins: Instruction, message: string): never {
    throw new BuildStepError(`${this.df.file}:${ins.line}: ${message}`);
  }

  private targetStage(): Stage {
    const t = this.req.target?.toLowerCase();
    if (!t) return this.df.stages[this.df.stages.length - 1];
    const s = this.df.stages.find((x) => x.name === t);
    if (!s)
      throw new ShoalError(
        'invalid_argument',
        `failed to reach build target ${this.req.target} in Dockerfile`,
        {
          field: 'target',
        },
      );
    return s;
  }

  private stepsUpTo(stage: Stage): number {
    const last = stage.instructions.at(-1) ?? stage.from;
    return this.df.all.indexOf(last) + 1;
  }

  private stageRef(ref: string, before: number): Stage | undefined {
    const r = ref.toLowerCase();
    const s = /^\d+$/.test(r) ? this.df.stages[Number(r)] : this.df.stages.find((x) => x.name === r);
    return s && s.index < before ? s : undefined;
  }

  /** Stages the target needs (its base chain and COPY --from sources), in file order. */
  private neededStages(target: Stage): Stage[] {
    const need = new Set<number>();
    const visit = (s: Stage) => {
      if (need.has(s.index)) return;
      need.add(s.index);
      const base = this.stageRef(this.baseName(s), s.index);
      if (base) visit(base);
      for (const i of s.instructions) {
        if (i.keyword !== 'COPY' || i.flags.from === undefined) continue;
        const from = this.stageRef(i.flags.from, s.index);
        if (from) visit(from);
        else if (
          this.df.stages.some(
            (x) => x.name === i.flags.from.toLowerCase() || String(x.index) === i.flags.from,
          )
        )
          this.fail(i, `COPY --from=${i.flags.from}: a stage can only copy from an earlier stage`);
      }
    };
    visit(target);
    return this.df.stages.filter((s) => need.has(s.index));
  }

  private baseName(s: Stage): string {
    try {
      return expandWord(s.base, this.metaVars, this.df.escape);
    } catch (e) {
      this.fail(s.from, (e as Error).message);
    }
  }

  private step(ins: Instruction): void {
    this.stepNo = this.df.all.indexOf(ins) + 1;
    this.say(`Step ${this.stepNo}/${this.total} : ${ins.text}`);
  }

  private async workDir(): Promise<string> {
    const d = path.join(this.deps.workDir, `s${++this.n}`);
    await fs.mkdir(d, { recursive: true });
    return d;
  }

  private async emptyDir(): Promise<string> {
    if (!this.empty) {
      this.empty = path.join(this.deps.workDir, 'empty');
      await fs.mkdir(this.empty, { recursive: true });
    }
    return this.empty;
  }

  private layerDirs(img: StepImage): string[] {
    return img.layers.map((l) => this.deps.store.layers.diffDir(l.diffId)).reverse();
  }

  private hold(layers: LayerRef[]): void {
    this.leases.push(this.deps.store.lease(layers.flatMap((l) => [l.digest, l.diffId])));
  }

  async run(): Promise<StepImage> {
    const target = this.targetStage();
    // ARGs before the first FROM: usable in FROM lines, and in stages that declare them again
    for (const ins of this.df.metaArgs) {
      this.step(ins);
      for (const [k, def] of this.guard(ins, () => parseArgDecls(ins, this.metaVars, this.df.escape))) {
        const given = this.req.buildArgs[k];
        if (given !== undefined) this.consumed.add(k);
        const v = given ?? def;
        if (v !== undefined && v !== null) this.metaVars.set(k, v);
      }
    }
    let last: StepImage | undefined;
    for (const stage of this.neededStages(target)) {
      last = await this.buildStage(stage);
      this.results.set(stage.index, last);
    }
    if (!last) throw new Error('no stage built');
    const labels = Object.entries(this.req.labels ?? {});
    if (labels.length) {
      const text = `LABEL ${labels.map(([k, v]) => `${JSON.stringify(k)}='${v}'`).join(' ')}`;
      const ins: Instruction = { line: 0, keyword: 'LABEL', args: '', flags: {}, text };
      this.stepNo = this.total;
      this.say(`Step ${this.total}/${this.total} : ${text}`);
      last = await this.cached(last, ins, text, null, async (img) => {
        const c: BuildConfig = structuredClone(img.doc.config ?? {});
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(labels) };
        return this.child(img, c, `/bin/sh -c #(nop)  ${text}`, undefined);
      });
    }
    return last;
  }

  private guard<T>(ins: Instruction, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ShoalError) throw e;
      this.fail(ins, (e as Error).message);
    }
  }

  private async baseImage(stage: Stage): Promise<StepImage> {
    const name = this.baseName(stage);
    if (
      stage.from.flags.platform !== undefined &&
      !isSupportedPlatform(expandWord(stage.from.flags.platform, this.metaVars, this.df.escape))
    )
      this.fail(
        stage.from,
        `FROM --platform=${stage.from.flags.platform}: shoal builds for linux/amd64 only`,
      );
    const st = this.stageRef(name, stage.index);
    if (st) {
      const r = this.results.get(st.index);
      if (r) return r;
    }
    if (name.toLowerCase() === 'scratch')
      return stepImage(
        {
          architecture: 'amd64',
          os: 'linux',
          config: {},
          rootfs: { type: 'layers', diff_ids: [] },
          history: [],
        },
        [],
      );
    return this.image(name, stage.from);
  }

  /** An image by reference from the store, pulled when missing or with --pull. */
  private async image(name: string, ins: Instruction): Promise<StepImage> {
    const store = this.deps.store;
    let ref: string;
    try {
      ref = familiarString(parseReference(name));
    } catch (e) {
      this.fail(ins, `invalid reference "${name}": ${(e as Error).message}`);
    }
    if (this.req.pull || !store.resolve(name)) {
      try {
        await this.deps.pull(ref, this.say);
      } catch (e) {
        if (this.req.pull && store.resolve(name))
          this.say(`Pulling ${ref} failed (${(e as Error).message}); using the local image`);
        else this.fail(ins, `pull access for ${ref}: ${(e as Error).message}`);
      }
    }
    const rec = store.get(name);
    const doc = await store.config(rec.id);
    this.hold(rec.layers);
    return { id: rec.id, bytes: await store.blobs.read(rec.id), doc, layers: rec.layers };
  }

  private async buildStage(stage: Stage): Promise<StepImage> {
    this.step(stage.from);
    let img = await this.baseImage(stage);
    this.say(` ---> ${short(img.id)}`);
    // the stage's ARGs: name → value (only declared ones are visible)
    const args = new Map<string, string>();
    const triggers = (img.doc.config as BuildConfig | undefined)?.OnBuild ?? [];
    const onbuild: Instruction[] = [];
    if (triggers.length) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
      for (const t of triggers) {
        const parsed = this.guard(stage.from, () => parseDockerfile(`FROM scratch\n${t}\n`, this.df.file));
        const ins = parsed.stages[0].instructions[0];
        if (ins) onbuild.push({ ...ins, line: stage.from.line });
      }
      const c: BuildConfig = structuredClone(img.doc.config ?? {});
      c.OnBuild = null;
      img = { ...img, doc: { ...img.doc, config: c } };
    }
    for (const ins of [...onbuild, ...stage.instructions]) {
      if (!onbuild.includes(ins)) this.step(ins);
      if (this.deps.signal?.aborted) throw new ShoalError('unavailable', 'build cancelled');
      img = await this.instruction(stage, img, ins, args);
    }
    return img;
  }

  private async instruction(
    stage: Stage,
    img: StepImage,
    ins: Instruction,
    args: Map<string, string>,
  ): Promise<StepImage> {
    const config = (img.doc.config ?? {}) as BuildConfig;
    const vars = varsOf(config, args);
    switch (ins.keyword) {
      case 'ARG': {
        for (const [k, def] of this.guard(ins, () => parseArgDecls(ins, vars, this.df.escape))) {
          const given = this.req.buildArgs[k];
          if (given !== undefined) this.consumed.add(k);
          const v = given ?? def ?? this.metaVars.get(k);
          if (v !== undefined && v !== null) args.set(k, v);
          else args.delete(k);
        }
        // as the classic builder: an ARG is a step of its own (its values are part of the cache key)
        const text = `ARG ${[...args].map(([k, v]) => `${k}=${v}`).join(' ')}`;
        return this.cached(img, ins, text, null, async (i) =>
          this.child(
            i,
            structuredClone(i.doc.config ?? {}),
            `/bin/sh -c #(nop) ${ins.text}`,
            undefined,
            true,
          ),
        );
      }
      case 'RUN':
        return this.runStep(img, ins, config, args);
      case 'COPY':
      case 'ADD':
        return this.copy(stage, img, ins, config, vars);
      default: {
        const r = this.guard(ins, () => applyMeta(config, ins, vars, this.df.escape));
        return this.cached(img, ins, r.createdBy, null, async (i) =>
          this.child(i, r.config, r.createdBy, undefined),
        );
      }
    }
  }

  /** A step's image: the parent's config with `config`, one more history entry, maybe one more layer. */
  private child(
    parent: StepImage,
    config: ContainerConfig,
    createdBy: string,
    layer: LayerRef | undefined,
    _arg = false,
  ): StepImage {
    const created = this.deps.now().toISOString();
    const doc: ImageConfig = {
      architecture: parent.doc.architecture ?? 'amd64',
      os: parent.doc.os ?? 'linux',
      created,
      config,
      rootfs: { type: 'layers', diff_ids: [...parent.doc.rootfs.diff_ids, ...(layer ? [layer.diffId] : [])] },
      history: [
        ...(parent.doc.history ?? []),
        layer ? { created, created_by: createdBy } : { created, created_by: createdBy, empty_layer: true },
      ],
    };
    return stepImage(doc, layer ? [...parent.layers, layer] : parent.layers);
  }

  /** Looks the step up in the cache; runs `make` on a miss and records its result. */
  private async cached(
    img: StepImage,
    _ins: Instruction,
    text: string,
    extra: unknown,
    make: (img: StepImage) => Promise<StepImage>,
  ): Promise<StepImage> {
    const key = cacheKey(img.id, text, extra);
    if (!this.req.noCache) {
      const hit = await this.deps.cache.get(key);
      if (hit) {
        const bytes = Buffer.from(hit.config);
        const doc = parseImageConfig(bytes);
        this.hold(hit.layers);
        const r: StepImage = { id: sha256Of(bytes), bytes, doc, layers: hit.layers };
        this.say(' ---> Using cache');
        this.say(` ---> ${short(r.id)}`);
        return r;
      }
    }
    const r = await make(img);
    await this.deps.cache.put(key, { config: r.bytes.toString(), layers: r.layers });
    this.say(` ---> ${short(r.id)}`);
    return r;
  }

  // ---- RUN

  private async runStep(
    img: StepImage,
    ins: Instruction,
    config: BuildConfig,
    args: Map<string, string>,
  ): Promise<StepImage> {
    const shell = config.Shell?.length ? config.Shell : DEFAULT_SHELL;
    const cmd = ins.heredoc !== undefined ? [...shell, ins.heredoc] : commandOf(ins, shell);
    const env = [...(config.Env ?? [])];
    const have = new Set(env.map((e) => e.split('=')[0]));
    const argEnv: string[] = [];
    for (const [k, v] of args) if (!have.has(k)) argEnv.push(`${k}=${v}`);
    const proxy: string[] = [];
    for (const k of PROXY_ARGS) {
      const v = this.req.buildArgs[k];
      if (v !== undefined && v !== null && !args.has(k) && !have.has(k)) proxy.push(`${k}=${v}`);
    }
    const network = ins.flags.network ?? this.req.networkMode ?? 'none';
    if (!['none', 'host', 'default'].includes(network))
      this.fail(ins, `RUN --network=${network}: use none or host`);
    const createdBy = `${argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ` : ''}${cmd.join(' ')}`;
    const extra = { user: config.User ?? '', network: network === 'host' ? 'host' : 'none' };
    return this.cached(img, ins, createdBy, extra, async (parent) => {
      const layer = await this.runContainer(parent, ins, cmd, [...env, ...argEnv, ...proxy], config, network);
      return this.child(parent, structuredClone(parent.doc.config ?? {}), createdBy, layer);
    });
  }

  private async initLayer(): Promise<string> {
    const d = path.join(this.deps.workDir, 'init');
    if (await fs.stat(d).catch(() => undefined)) return d;
    // mount points the runtime needs, so they are never created in (and committed from) the upper dir
    for (const p of ['proc', 'sys', 'dev/pts', 'dev/shm', 'dev/mqueue'])
      await fs.mkdir(path.join(d, p), { recursive: true, mode: 0o755 });
    return d;
  }

  private async runContainer(
    img: StepImage,
    ins: Instruction,
    cmd: string[],
    env: string[],
    config: BuildConfig,
    network: string,
  ): Promise<LayerRef | undefined> {
    const engine = this.deps.engine;
    const layers = [await this.initLayer(), ...this.layerDirs(img)];
    let id: string;
    try {
      ({ id } = await engine.create({
        rootfs: { layers, imageConfig: { Volumes: config.Volumes } },
        cmd,
        entrypoint: [],
        env,
        user: config.User || undefined,
        workingDir: config.WorkingDir || undefined,
        networkMode: network === 'host' ? 'host' : 'none',
        image: short(img.id),
        imageId: img.id,
        labels: { 'org.shoal.build': 'step' },
      }));
    } catch (e) {
      this.fail(ins, `The command '${cmd.join(' ')}' could not start: ${(e as Error).message}`);
    }
    this.say(` ---> Running in ${id.slice(0, 12)}`);
    try {
      const stream = await engine.attach(id, { stdout: true, stderr: true });
      const done = pipeFrames(stream, this.say);
      const exited = engine.wait(id, 'next-exit');
      const abort = () => void engine.kill(id).catch(() => {});
      this.deps.signal?.addEventListener('abort', abort);
      try {
        await engine.start(id);
      } catch (e) {
        this.fail(ins, `The command '${cmd.join(' ')}' could not start: ${(e as Error).message}`);
      }
      const r = await exited;
      this.deps.signal?.removeEventListener('abort', abort);
      await done;
      if (this.deps.signal?.aborted) throw new ShoalError('unavailable', 'build cancelled');
      if (r.exitCode !== 0)
        this.fail(ins, `The command '${cmd.join(' ')}' returned a non-zero code: ${r.exitCode}`);
      const upper = engine.upperDir(id);
      if (!upper || (await isEmptyDir(upper))) return undefined;
      const layer = await this.commit(upper, `RUN step ${this.stepNo}`);
      return layer;
    } finally {
      await engine.remove(id, { force: true, removeVolumes: true }).catch(() => {});
      this.say(` ---> Removed intermediate container ${id.slice(0, 12)}`);
    }
  }

  private async commit(upper: string, label: string): Promise<LayerRef> {
    const anonymous = this.deps.store.leaseAnonymous();
    try {
      const layer = await commitLayer(this.deps.store, upper, label);
      this.hold([layer]);
      return layer;
    } finally {
      anonymous();
    }
  }

  // ---- COPY / ADD

  private async copy(
    stage: Stage,
    img: StepImage,
    ins: Instruction,
    config: BuildConfig,
    vars: ReadonlyMap<string, string>,
  ): Promise<StepImage> {
    const kw = ins.keyword as 'COPY' | 'ADD';
    const words = ins.json ?? this.guard(ins, () => expandWords(ins.args, vars, this.df.escape));
    if (words.length < 2) this.fail(ins, `${kw} requires at least two arguments`);
    const dest0 = words[words.length - 1];
    const srcs = words.slice(0, -1);
    for (const s of srcs)
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
        this.fail(
          ins,
          `${kw} ${s}: remote URLs are not supported by shoal's builder; download the file into the build context`,
        );
    if (kw === 'COPY' && ins.flags.from === undefined) {
      /* context */
    }
    const workdir = config.WorkingDir || '/';
    const dest = dest0.startsWith('/')
      ? dest0
      : path.posix.join(workdir, dest0) + (dest0.endsWith('/') || dest0 === '.' ? '/' : '');
    let chmod: number | undefined;
    if (ins.flags.chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(ins.flags.chmod))
        this.fail(ins, `${kw} --chmod=${ins.flags.chmod}: expected an octal mode`);
      chmod = Number.parseInt(ins.flags.chmod, 8);
    }
    const mounts: Overlay[] = [];
    try {
      // where the sources are: the context, or another stage's / image's files
      let fromImg: StepImage | undefined;
      const from = ins.flags.from;
      if (from !== undefined) {
        const st = this.stageRef(from, stage.index);
        if (st) fromImg = this.results.get(st.index)!;
        else {
          if (!from) this.fail(ins, 'COPY --from needs a stage name, index or image');
          try {
            fromImg = await this.image(from, ins);
          } catch (e) {
            this.fail(
              ins,
              `COPY --from=${from}: no stage or image of that name (${(e as Error).message.replace(/^.*?:\d+: /, '')})`,
            );
          }
        }
      }
      const findAll = async (root: string, what: string): Promise<Source[]> => {
        const all: Source[] = [];
        for (const s of srcs) {
          try {
            const found = await findSources(root, s, what);
            if (found.length === 0)
              this.fail(ins, `${kw} failed: no source files were specified (${s} matches nothing)`);
            all.push(...found);
          } catch (e) {
            if (e instanceof CopyError) this.fail(ins, `${kw} failed: ${e.message}`);
            throw e;
          }
        }
        return all.filter((s, i) => all.findIndex((x) => x.host === s.host) === i);
      };
      // another stage's or image's files are fixed by its id: no need to read them for the key
      let sources: Source[] | undefined;
      let digest: string;
      if (fromImg) digest = `${fromImg.id}:${srcs.join(',')}`;
      else {
        sources = await findAll(this.ctx.dir, 'build context');
        digest = await hashSources(sources);
      }
      const fromId = fromImg?.id ?? '';
      const flags = Object.entries(ins.flags)
        .map(([k, v]) => `--${k}=${v}`)
        .join(' ');
      const createdBy = `/bin/sh -c #(nop) ${kw} ${flags ? `${flags} ` : ''}${digest.slice(0, 71)} in ${dest} `;
      return await this.cached(
        img,
        ins,
        `${kw} ${flags} ${srcs.join(' ')} ${dest}`,
        { digest },
        async (parent) => {
          const m = await mountOverlay(
            await this.workDir(),
            this.layerDirs(parent),
            await this.emptyDir(),
            true,
          );
          mounts.push(m);
          if (!sources) {
            const src = await mountOverlay(
              await this.workDir(),
              this.layerDirs(fromImg!),
              await this.emptyDir(),
              false,
            );
            mounts.push(src);
            sources = await findAll(src.target, `stage ${from}`);
          }
          let uid = 0;
          let gid = 0;
          if (ins.flags.chown) {
            try {
              const u = resolveUser(
                expandWord(ins.flags.chown, vars, this.df.escape),
                rootfsReader([m.target]),
              );
              uid = u.uid;
              gid = u.gid;
            } catch (e) {
              this.fail(ins, `${kw} --chown=${ins.flags.chown}: ${(e as Error).message}`);
            }
          }
          try {
            await copySources(m.target, sources, dest, {
              uid,
              gid,
              chmod,
              keyword: kw,
              unpackArchives: kw === 'ADD' && !fromId,
            });
          } catch (e) {
            if (e instanceof CopyError) this.fail(ins, `${kw} failed: ${e.message}`);
            throw e;
          }
          await m.unmount();
          const layer = (await isEmptyDir(m.upper!))
            ? undefined
            : await this.commit(m.upper!, `${kw} step ${this.stepNo}`);
          return this.child(parent, structuredClone(parent.doc.config ?? {}), createdBy, layer);
        },
      );
    } finally {
      for (const m of mounts) await m.unmount().catch(() => {});
    }
  }
}

/** Docker's multiplexed frames (8-byte headers) from an attach stream, as text lines to `say`. */
async function pipeFrames(stream: Duplex, say: (s: string) => void): Promise<void> {
  let buf = Buffer.alloc(0);
  let text = '';
  const flush = (final: boolean) => {
    const nl = text.lastIndexOf('\n');
    if (nl >= 0) {
      say(text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    if (final && text) {
      say(`${text}\n`);
      text = '';
    }
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const len = buf.readUInt32BE(4);
      if (buf.length < 8 + len) break;
      text += buf.subarray(8, 8 + len).toString();
      buf = buf.subarray(8 + len);
    }
    flush(false);
  }
  flush(true);
}

export { DockerfileError };
