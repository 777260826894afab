// Pull and push against Debian's docker-registry on loopback (without auth and with htpasswd), plus a
// fault-injecting proxy in front of it: 500s, dropped connections, corrupt/truncated blobs, unknown
// manifest types, and a bearer-token layer.
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eraseCredentials, loadCredentials, storeCredentials } from '../../cli/credentials.js';
import { sha256Of } from '../../common/digest.js';
import { loadArchive } from '../../worker/images/load.js';
import { MT } from '../../worker/images/mediatypes.js';
import type { ProgressEvent } from '../../worker/images/progress.js';
import { RegistryClient } from '../../worker/images/registry/client.js';
import { pullImage } from '../../worker/images/registry/pull.js';
import { pushImage } from '../../worker/images/registry/push.js';
import { ImageStore } from '../../worker/images/store.js';
import { makeImage, multiLayerParts, ociImage, tarOf } from '../fixtures/steps/images-lib.js';
import { startFaultProxy } from './fault-proxy.js';
import { ensureImageFixtures, fixture } from './fixtures.js';
import { startRegistry, type TestRegistry } from './registry-harness.js';

let tmp: string;
let src: ImageStore;
beforeAll(() => ensureImageFixtures());
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-reg-'));
  src = await ImageStore.open(path.join(tmp, 'src'));
  await loadArchive(src, createReadStream(fixture('multilayer.docker.tar')) as AsyncIterable<Buffer>);
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const fast = { retryDelayMs: 5 };
const emptyStore = (name = 'dst') => ImageStore.open(path.join(tmp, name));
async function storeState(s: ImageStore) {
  return {
    list: await s.list(),
    blobs: await s.blobs.list(),
    layers: (await fs.readdir(s.layers.dir)).sort(),
    tmp: await fs.readdir(s.blobs.tmpDir),
  };
}
const EMPTY = { list: [], blobs: [], layers: [], tmp: [] };

describe('registry without auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes, then pulls into an empty store: same image, same files', async () => {
    const ref = `${reg.host}/shoal/multi:1`;
    await src.tag('shoal/multilayer', ref);
    const events: ProgressEvent[] = [];
    const pushed = await pushImage(src, ref, {
      ...fast,
      chunkSize: 512 * 1024,
      progress: (e) => events.push(e),
    });
    expect(Object.values(pushed.blobs)).toEqual(['uploaded', 'uploaded', 'uploaded', 'uploaded']);
    // the 2 MB base layer went up in PATCH chunks
    expect(events.filter((e) => e.status === 'Pushing').length).toBeGreaterThanOrEqual(4);
    // a second push finds everything there
    const again = await pushImage(src, ref, fast);
    expect(new Set(Object.values(again.blobs))).toEqual(new Set(['exists']));

    const dst = await emptyStore();
    const pulled = await pullImage(dst, ref, { ...fast, progress: (e) => events.push(e) });
    expect(pulled.image.id).toBe(src.get(ref).id);
    expect(pulled.manifestDigest).toBe(pushed.digest);
    expect(dst.repoDigests(pulled.image.id)).toEqual([`${reg.host}/shoal/multi@${pushed.digest}`]);
    const rf = await dst.rootfs(ref);
    expect(await fs.readFile(path.join(rf.layers[0], 'data/replace'), 'utf8')).toBe('new content\n');
    expect(events.some((e) => e.status.startsWith('Status: Downloaded newer image for'))).toBe(true);
    // pulling again: up to date, layers already there
    const ev2: ProgressEvent[] = [];
    const second = await pullImage(dst, ref, { ...fast, progress: (e) => ev2.push(e) });
    expect(second.updated).toBe(false);
    expect(ev2.filter((e) => e.status === 'Already exists')).toHaveLength(3);
    // and by digest
    const byDigest = await pullImage(
      await emptyStore('bydigest'),
      `${reg.host}/shoal/multi@${pushed.digest}`,
      fast,
    );
    expect(byDigest.image.id).toBe(pulled.image.id);
  });

  it('paces download progress by time (at most one message a layer per 100 ms, and the last)', async () => {
    const ref = `${reg.host}/shoal/paced:1`;
    await src.tag('shoal/multilayer', ref);
    await pushImage(src, ref, fast);
    const downloads = async (now: () => number) => {
      const events: ProgressEvent[] = [];
      await pullImage(await emptyStore(`paced${Math.random()}`), ref, {
        ...fast,
        now,
        progress: (e) => events.push(e),
      });
      const byLayer = new Map<string, ProgressEvent[]>();
      for (const e of events.filter((x) => x.status === 'Downloading'))
        byLayer.set(e.id!, [...(byLayer.get(e.id!) ?? []), e]);
      for (const list of byLayer.values()) {
        const last = list.at(-1)!.progressDetail!;
        expect(last.current).toBe(last.total); // the last always goes
      }
      return [...byLayer.values()].map((l) => l.length);
    };
    // a clock that stands still: the first chunk and the completed layer only
    const still = await downloads(() => 0);
    expect(still.length).toBe(3);
    for (const n of still) expect(n).toBeLessThanOrEqual(2);
    // a clock moving 100 ms a chunk: every chunk of the 2 MB layer reports
    let t = 0;
    const moving = await downloads(() => (t += 100));
    expect(Math.max(...moving)).toBeGreaterThan(2);
  });

  it('two concurrent pulls of the same image into one store both succeed, layers stored once', async () => {
    const ref = `${reg.host}/shoal/twice:1`;
    await src.tag('shoal/multilayer', ref);
    await pushImage(src, ref, fast);
    const dst = await emptyStore();
    const [a, b] = await Promise.all([pullImage(dst, ref, fast), pullImage(dst, ref, fast)]);
    expect(a.image.id).toBe(b.image.id);
    expect((await dst.layers.list()).length).toBe(3);
    expect((await fs.readdir(dst.layers.dir)).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    expect((await dst.list()).map((i) => i.repoTags)).toEqual([[ref]]);
  });

  it('mounts blobs from another repository of the same registry', async () => {
    const a = `${reg.host}/team-a/app:1`;
    const b = `${reg.host}/team-b/app:1`;
    await src.tag('shoal/multilayer', a);
    await pushImage(src, a, fast);
    await src.tag('shoal/multilayer', b);
    const r = await pushImage(src, b, fast);
    expect(new Set(Object.values(r.blobs))).toEqual(new Set(['mounted']));
    const pulled = await pullImage(await emptyStore(), b, fast);
    expect(pulled.image.id).toBe(src.get(b).id);
  });

  it('picks linux/amd64 from a Docker manifest list (and an OCI index) in the registry', async () => {
    const parts = multiLayerParts();
    const amd = makeImage([await tarOf(parts.lower)], { Cmd: ['amd64'] });
    const arm = makeImage([await tarOf(parts.upper)], { Cmd: ['arm64'] });
    const client = new RegistryClient(reg.host, 'multi/arch');
    const put = async (o: ReturnType<typeof ociImage>) => {
      for (const [d, b] of o.blobs) {
        if (b === o.manifest) continue;
        await client.putBlob(await client.startUpload(), d as `sha256:${string}`, b);
      }
    };
    for (const docker of [true, false]) {
      const a = ociImage(amd, { docker });
      const r = ociImage(arm, { docker });
      await put(a);
      await put(r);
      const mt = docker ? MT.dockerManifest : MT.ociManifest;
      await client.putManifest(a.manifestDigest, mt, a.manifest);
      await client.putManifest(r.manifestDigest, mt, r.manifest);
      const list = {
        schemaVersion: 2,
        mediaType: docker ? MT.dockerList : MT.ociIndex,
        manifests: [
          {
            mediaType: mt,
            digest: r.manifestDigest,
            size: r.manifest.length,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: mt,
            digest: a.manifestDigest,
            size: a.manifest.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      };
      const tag = docker ? 'list' : 'index';
      await client.putManifest(tag, list.mediaType, Buffer.from(JSON.stringify(list)));
      const dst = await emptyStore(tag);
      const pulled = await pullImage(dst, `${reg.host}/multi/arch:${tag}`, fast);
      expect(pulled.manifestDigest).toBe(a.manifestDigest);
      expect((await dst.config(pulled.image.id)).config?.Cmd).toEqual(['amd64']);
      expect(pulled.image.manifestMediaType).toBe(mt);
    }
  });

  it('a missing tag or repository is a clear 404 and leaves the store empty', async () => {
    const dst = await emptyStore();
    await expect(pullImage(dst, `${reg.host}/shoal/nothing:1`, fast)).rejects.toThrow(
      `manifest for ${reg.host}/shoal/nothing:1 not found: manifest unknown`,
    );
    await expect(pullImage(dst, `${reg.host}/Bad/Name`, fast)).rejects.toThrow(/must be lowercase/);
    expect(await storeState(dst)).toEqual(EMPTY);
  });

  // issue 7 C: images a pull must refuse before they are registered
  const putImage = async (repo: string, o: ReturnType<typeof ociImage>, tag: string) => {
    const client = new RegistryClient(reg.host, repo);
    for (const [d, b] of o.blobs) {
      if (b === o.manifest) continue;
      await client.putBlob(await client.startUpload(), d as `sha256:${string}`, b);
    }
    await client.putManifest(tag, MT.ociManifest, o.manifest);
  };

  it('refuses to pull more than 125 layers or a deeply nested config, and stores nothing', async () => {
    const layers = await Promise.all(
      Array.from({ length: 126 }, (_, i) =>
        tarOf([{ entry: { name: `f${i}`, type: 'file' }, body: Buffer.from(`${i}`) }]),
      ),
    );
    await putImage('limits/deep', ociImage(makeImage(layers)), '1');
    const dst = await emptyStore();
    await expect(pullImage(dst, `${reg.host}/limits/deep:1`, fast)).rejects.toThrow(
      /126 layers, more than the 125 allowed/,
    );
    const img = makeImage([layers[0]]);
    const nested = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const config = Buffer.from(img.config.toString().replace(/}$/, `,"x":${nested}}`));
    await putImage('limits/nested', ociImage({ config, layers: img.layers }), '1');
    await expect(pullImage(dst, `${reg.host}/limits/nested:1`, fast)).rejects.toThrow(
      /image config: nested more than 64 levels deep/,
    );
    expect(await storeState(dst)).toEqual(EMPTY);
  });

  it('a manifest pairing a stored blob with another stored layer is verified, not trusted', async () => {
    const x = makeImage([await tarOf([{ entry: { name: 'x', type: 'file' }, body: Buffer.from('x') }])]);
    const y = makeImage([await tarOf([{ entry: { name: 'y', type: 'file' }, body: Buffer.from('y') }])]);
    const ox = ociImage(x);
    const oy = ociImage(y);
    await putImage('pair/x', ox, '1');
    await putImage('pair/y', oy, '1');
    const dst = await emptyStore();
    await pullImage(dst, `${reg.host}/pair/x:1`, fast);
    await pullImage(dst, `${reg.host}/pair/y:1`, fast);
    // x's blob named as the layer whose diff-id is y's: both are in the store
    const evilConfig = y.config;
    const m = JSON.parse(ox.manifest.toString());
    m.config = { mediaType: MT.ociConfig, digest: sha256Of(evilConfig), size: evilConfig.length };
    const manifest = Buffer.from(JSON.stringify(m));
    const blobs = new Map([...ox.blobs].filter(([, b]) => b !== ox.manifest));
    blobs.set(sha256Of(evilConfig), evilConfig);
    blobs.set(sha256Of(manifest), manifest);
    await putImage('pair/evil', { blobs, manifest, manifestDigest: sha256Of(manifest) }, '1');
    const before = await storeState(dst);
    await expect(pullImage(dst, `${reg.host}/pair/evil:1`, fast)).rejects.toThrow(
      /diff-id \(uncompressed\): digest mismatch/,
    );
    expect(dst.resolve(`${reg.host}/pair/evil:1`)).toBeUndefined();
    expect(await storeState(dst)).toEqual(before);
  });

  describe('through a faulty proxy', () => {
    const pushed = async () => {
      const ref = `${reg.host}/faults/multi:1`;
      await src.tag('shoal/multilayer', ref);
      await pushImage(src, ref, fast);
    };

    it('resumes a blob download with Range after the connection drops mid-blob', async () => {
      await pushed();
      const proxy = await startFaultProxy(reg.host, { dropAfterBytes: 300_000, dropTimes: 2 });
      try {
        const events: ProgressEvent[] = [];
        const dst = await emptyStore();
        const r = await pullImage(dst, `${proxy.host}/faults/multi:1`, {
          ...fast,
          progress: (e) => events.push(e),
        });
        expect(r.image.id).toBe(src.get('shoal/multilayer').id);
        // the retry asked only for the bytes it did not have yet
        const resumed = proxy.log.map((l) => Number(/^bytes=(\d+)-$/.exec(l.range ?? '')?.[1] ?? 0));
        expect(Math.max(...resumed)).toBeGreaterThan(0);
        expect(events.some((e) => /^Retrying download at byte [1-9]\d*$/.test(e.status))).toBe(true);
        const rf = await dst.rootfs(`${proxy.host}/faults/multi:1`);
        expect((await fs.lstat(path.join(rf.layers[2], 'bin/busybox'))).size).toBeGreaterThan(1_000_000);
      } finally {
        await proxy.close();
      }
    });

    it('retries 500 answers', async () => {
      await pushed();
      const proxy = await startFaultProxy(reg.host, { blob500: 3 });
      try {
        const r = await pullImage(await emptyStore(), `${proxy.host}/faults/multi:1`, fast);
        expect(r.image.layers).toHaveLength(3);
        expect(proxy.rules.blob500).toBe(0);
      } finally {
        await proxy.close();
      }
    });

    it.each([
      ['a registry that always fails', { blob500: 1000 }, /registry answered 500|injected/],
      [
        'a connection that always drops',
        { dropAfterBytes: 1000, dropTimes: 1000 },
        /download failed after 5 attempts/,
      ],
      ['a corrupted blob', { corruptBlobs: true }, /digest mismatch|corrupt gzip|tar:/],
      [
        'a truncated blob',
        { truncateBlobs: true },
        /download failed after 5 attempts: connection closed after/,
      ],
      [
        'an unknown manifest media type',
        {
          manifest: {
            contentType: 'application/vnd.example.thing+json',
            body: '{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}',
          },
        },
        /manifest: unsupported media type "application\/vnd.example.thing\+json"/,
      ],
    ])('%s: clear error, nothing half-registered', async (_what, rules, msg) => {
      await pushed();
      const proxy = await startFaultProxy(reg.host, rules);
      const dst = await emptyStore();
      try {
        await expect(pullImage(dst, `${proxy.host}/faults/multi:1`, fast)).rejects.toThrow(msg);
        expect(await storeState(dst)).toEqual(EMPTY);
      } finally {
        await proxy.close();
      }
    });

    it('gets bearer tokens from the realm of the challenge', async () => {
      await pushed();
      const proxy = await startFaultProxy(reg.host, { bearer: { username: 'bob', password: 'pw' } });
      try {
        const dst = await emptyStore();
        await expect(pullImage(dst, `${proxy.host}/faults/multi:1`, fast)).rejects.toThrow(/unauthorized/);
        await expect(
          pullImage(dst, `${proxy.host}/faults/multi:1`, {
            ...fast,
            credentials: { username: 'bob', password: 'nope' },
          }),
        ).rejects.toThrow(/rejected the credentials/);
        expect(await storeState(dst)).toEqual(EMPTY);
        const r = await pullImage(dst, `${proxy.host}/faults/multi:1`, {
          ...fast,
          credentials: { username: 'bob', password: 'pw' },
        });
        expect(r.image.layers).toHaveLength(3);
        // one token per scope, reused for all requests of the pull
        expect(proxy.tokensIssued).toBe(1);
        const tokenReq = proxy.log.find((l) => l.path.startsWith('/token'));
        expect(tokenReq?.path).toContain('scope=repository%3Afaults%2Fmulti%3Apull');
        expect(tokenReq?.path).toContain('service=shoal-test');
      } finally {
        await proxy.close();
      }
    });
  });
});

describe('registry over TLS with a custom CA', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('uses <certs.d>/<host>/ca.crt; without it the registry is not trusted', async () => {
    const certsDir = path.join(tmp, 'certs.d');
    const ref = `${reg.host}/tls/multi:1`;
    await src.tag('shoal/multilayer', ref);
    // no certs dir: a loopback registry is tried over plain http, which a TLS server refuses
    await expect(pushImage(src, ref, { ...fast, retries: 0, certsDir })).rejects.toThrow(
      /400|HTTP request to an HTTPS server/,
    );
    await fs.mkdir(path.join(certsDir, reg.host), { recursive: true });
    await fs.copyFile(reg.ca!, path.join(certsDir, reg.host, 'ca.crt'));
    await pushImage(src, ref, { ...fast, certsDir });
    const dst = await emptyStore();
    const pulled = await pullImage(dst, ref, { ...fast, certsDir });
    expect(pulled.image.id).toBe(src.get(ref).id);
    // a different CA: the certificate is rejected
    const other = path.join(tmp, 'other-certs');
    await fs.mkdir(path.join(other, reg.host), { recursive: true });
    await fs.writeFile(
      path.join(other, reg.host, 'ca.crt'),
      await fs.readFile(path.join(reg.dir, 'server.crt')),
    );
    await expect(
      pullImage(await emptyStore('x'), ref, { ...fast, retries: 0, certsDir: other }),
    ).rejects.toThrow(/certificate|self.signed|unable to verify/i);
  });
});

describe('registry with htpasswd auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ users: { alice: 'wonderland' } });
  });
  afterAll(async () => {
    await reg?.stop();
  });
  const alice = { username: 'alice', password: 'wonderland' };

  it('login checks credentials with /v2/ and stores them 0600; logout erases them', async () => {
    await expect(
      new RegistryClient(reg.host, '', { credentials: { username: 'alice', password: 'x' } }).ping(),
    ).rejects.toThrow(/unauthorized/);
    await expect(new RegistryClient(reg.host, '').ping()).rejects.toThrow(
      /authentication required.*shoal login/,
    );
    await new RegistryClient(reg.host, '', { credentials: alice }).ping();
    const file = path.join(tmp, 'cfg', 'config.json');
    await storeCredentials(reg.host, alice, file);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(file, 'utf8')).auths[reg.host].auth).toBe(
      Buffer.from('alice:wonderland').toString('base64'),
    );
    expect(await loadCredentials(reg.host, file)).toEqual(alice);
    expect(await eraseCredentials(reg.host, file)).toBe(true);
    expect(await loadCredentials(reg.host, file)).toBeUndefined();
    expect(await eraseCredentials(reg.host, file)).toBe(false);
  });

  it('push and pull need the credentials', async () => {
    const ref = `${reg.host}/private/multi:1`;
    await src.tag('shoal/multilayer', ref);
    await expect(pushImage(src, ref, fast)).rejects.toThrow(/authentication required/);
    await expect(
      pushImage(src, ref, { ...fast, credentials: { username: 'alice', password: 'bad' } }),
    ).rejects.toThrow(/unauthorized/);
    await pushImage(src, ref, { ...fast, credentials: alice });
    const dst = await emptyStore();
    await expect(pullImage(dst, ref, fast)).rejects.toThrow(/authentication required/);
    expect(await storeState(dst)).toEqual(EMPTY);
    const r = await pullImage(dst, ref, { ...fast, credentials: alice });
    expect(r.image.id).toBe(src.get(ref).id);
  });
});
