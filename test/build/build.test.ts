// Dockerfile builds through a real shoald: `shoal build` and the real docker CLI's classic builder
// (POST /build), images made of real layers that run, push and pull; the step cache (hits on an
// unchanged rebuild, a partial rebuild after one file changes, --no-cache, builder prune); COPY/ADD
// semantics; multi-stage with only the needed stages; bad Dockerfiles and hostile contexts refused
// with nothing half-made and nothing read or written outside the context.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, REPO, type Result, shoal, startShoald } from '../daemon/harness.js';
import { startRegistry, type TestRegistry } from '../images/registry-harness.js';

const TARBALL = join(REPO, 'test/fixtures/out/images/busybox.docker.tar');
let d: Daemon;
let work: string;

beforeAll(async () => {
  d = await startShoald();
  work = mkdtempSync(join(tmpdir(), 'shoal-build-ctx-'));
  expect((await shoal(d, ['load', '-i', TARBALL])).code).toBe(0);
}, 120_000);
afterAll(async () => {
  await cleanup(d);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

let n = 0;
/** A fresh context directory holding `files` (paths → content). */
function context(files: Record<string, string>): string {
  const dir = join(work, `c${++n}`);
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  return dir;
}

const build = (dir: string, ...args: string[]) => shoal(d, ['build', '--progress', 'plain', ...args, dir]);
const ok = (r: Result) => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
};
const imageIds = async () =>
  (await shoal(d, ['images', '-q', '--no-trunc'])).stdout.trim().split('\n').sort();
const inspect = async (ref: string) => JSON.parse((await shoal(d, ['image', 'inspect', ref])).stdout)[0];
const run = async (...args: string[]) => ok(await shoal(d, ['run', '--rm', ...args])).stdout;

describe('shoal build', () => {
  it('builds a multi-stage Dockerfile (ARG before FROM, COPY --from, only the stages the target needs)', async () => {
    const dir = context({
      Dockerfile: [
        'ARG BASE=busybox',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile variable, not a template
        'FROM ${BASE} AS compile',
        'ARG MSG=default',
        'RUN mkdir /out && echo "built $MSG" > /out/result',
        'FROM busybox AS never',
        'RUN echo this stage is not needed && exit 7',
        'FROM busybox',
        'COPY --from=compile /out/result /srv/',
        'COPY --from=0 /out /copied',
        'COPY --from=busybox /bin/busybox /from-image/',
        'CMD ["cat", "/srv/result", "/copied/result"]',
      ].join('\n'),
    });
    const r = ok(await build(dir, '-t', 'multi:1', '--build-arg', 'MSG=hello'));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the step as the Dockerfile writes it
    expect(r.stdout).toContain('Step 2/11 : FROM ${BASE} AS compile');
    expect(r.stdout).toContain('Step 8/11 : COPY --from=compile /out/result /srv/');
    expect(r.stdout).not.toContain('this stage is not needed');
    expect(r.stdout).not.toMatch(/Step 6\/11/);
    expect(r.stdout).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged multi:1\n/);
    expect(await run('multi:1')).toBe('built hello\nbuilt hello\n');
    expect(await run('multi:1', '/from-image/busybox', 'echo', 'copied from an image')).toBe(
      'copied from an image\n',
    );
    // --target builds up to that stage only
    const t = ok(await build(dir, '-t', 'multi:compile', '--target', 'compile'));
    expect(t.stdout).not.toMatch(/Step [5-9]\/|Step 1[01]\//);
    expect(await run('multi:compile', 'cat', '/out/result')).toBe('built default\n');
    const bad = await build(dir, '--target', 'nosuch');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('failed to reach build target nosuch in Dockerfile');
    const arm = await build(dir, '--platform', 'linux/arm64');
    expect(arm.code).not.toBe(0);
    expect(arm.stderr).toContain('platform linux/arm64: shoal builds for linux/amd64 only');
  });

  it('puts USER, WORKDIR, ENV, ENTRYPOINT, CMD, LABEL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD in the config; run honours them', async () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'ENV APP_HOME=/srv/app MODE="fast mode"',
        'WORKDIR $APP_HOME',
        'WORKDIR sub',
        'RUN echo "$MODE" > mode.txt && chown 1000:1000 mode.txt',
        'LABEL org.example.name="demo app" version=1',
        'EXPOSE 8080 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=5s --retries=2 CMD true',
        'ONBUILD RUN echo triggered > /tmp/onbuild.txt',
        'SHELL ["/bin/sh", "-c"]',
        'USER 1000:1000',
        'ENTRYPOINT ["sh", "-c"]',
        'CMD ["id -u; pwd; cat mode.txt; echo $APP_HOME"]',
      ].join('\n'),
    });
    ok(await build(dir, '-t', 'cfg:1', '--label', 'extra=yes'));
    const c = (await inspect('cfg:1')).Config;
    expect(c.User).toBe('1000:1000');
    expect(c.WorkingDir).toBe('/srv/app/sub');
    expect(c.Env).toEqual(expect.arrayContaining(['APP_HOME=/srv/app', 'MODE=fast mode']));
    expect(c.Entrypoint).toEqual(['sh', '-c']);
    expect(c.Cmd).toEqual(['id -u; pwd; cat mode.txt; echo $APP_HOME']);
    expect(c.Labels).toEqual({ 'org.example.name': 'demo app', version: '1', extra: 'yes' });
    expect(Object.keys(c.ExposedPorts).sort()).toEqual(['53/udp', '8080/tcp']);
    expect(Object.keys(c.Volumes)).toEqual(['/data']);
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.Healthcheck).toMatchObject({ Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
    expect(await run('cfg:1')).toBe('1000\n/srv/app/sub\nfast mode\n/srv/app\n');
    // the ONBUILD trigger runs in a child build
    const child = context({ Dockerfile: 'FROM cfg:1\nENTRYPOINT []\nCMD ["cat", "/tmp/onbuild.txt"]\n' });
    const r = ok(await build(child, '-t', 'cfg:child'));
    expect(r.stdout).toContain('# Executing 1 build trigger');
    expect(await run('cfg:child')).toBe('triggered\n');
  });

  it('follows docker COPY/ADD semantics: directory contents, globs, trailing slash, --chown, --chmod, local tar unpacked, deletions as whiteouts', async () => {
    const dir = context({
      'src/a.txt': 'a',
      'src/nested/b.txt': 'b',
      'one.conf': '1',
      'two.conf': '2',
      'x.md': 'x',
    });
    execFileSync('tar', ['-czf', join(dir, 'bundle.tgz'), '-C', join(dir, 'src'), '.']);
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        'FROM busybox',
        'COPY src /dst',
        'COPY *.conf /etc/app/',
        'COPY x.md /renamed.md',
        'COPY --chown=nobody:nogroup --chmod=0600 one.conf /owned/',
        'ADD bundle.tgz /unpacked/',
        'ADD x.md /added/',
        'RUN rm /bin/vi /dst/a.txt',
      ].join('\n'),
    );
    ok(await build(dir, '-t', 'copy:1'));
    const out = await run(
      'copy:1',
      'sh',
      '-c',
      'find /dst /etc/app /renamed.md /owned /unpacked /added | sort; stat -c "%u:%g %a" /owned/one.conf; ls /bin/vi 2>&1; cat /unpacked/nested/b.txt',
    );
    expect(out).toBe(
      [
        '/added',
        '/added/x.md',
        '/dst',
        '/dst/nested',
        '/dst/nested/b.txt',
        '/etc/app',
        '/etc/app/one.conf',
        '/etc/app/two.conf',
        '/owned',
        '/owned/one.conf',
        '/renamed.md',
        '/unpacked',
        '/unpacked/a.txt',
        '/unpacked/nested',
        '/unpacked/nested/b.txt',
        '65534:65534 600',
        'ls: /bin/vi: No such file or directory',
        'b',
      ].join('\n'),
    );
    // several sources need a directory destination ending in "/"
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY one.conf two.conf /etc/app\n');
    const bad = await build(dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      'Dockerfile:2: COPY failed: When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
    // a glob that matches nothing
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY *.nothing /x/\n');
    expect((await build(dir)).stderr).toContain('Dockerfile:2: COPY failed: no source files were specified');
  });

  it('honours .dockerignore: an ignored file is neither sent nor copied', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nCMD ["ls", "-A", "/ctx", "/ctx/keep"]\n',
      '.dockerignore': '*.secret\nbuild/\n!build/keep.txt\n',
      'app.txt': 'app',
      'token.secret': 'do not ship',
      'build/junk.o': 'junk',
      'build/keep.txt': 'kept',
    });
    ok(await build(dir, '-t', 'ign:1'));
    expect(await run('ign:1', 'sh', '-c', 'cd /ctx && find . -type f | sort')).toBe(
      './.dockerignore\n./Dockerfile\n./app.txt\n./build/keep.txt\n',
    );
  });

  it('caches steps by content: an unchanged rebuild is all hits, one changed file rebuilds from its COPY, --no-cache and builder prune', async () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'ENV A=1',
        'RUN echo first > /first',
        'COPY app.txt /app/',
        'RUN cat /app/app.txt > /app/copy',
        'CMD ["cat", "/app/copy"]',
      ].join('\n'),
      'app.txt': 'v1\n',
    });
    const first = ok(await build(dir, '-t', 'cache:1'));
    expect(first.stdout).not.toContain('Using cache');
    const id = (await inspect('cache:1')).Id;
    const again = ok(await build(dir, '-t', 'cache:1'));
    expect(again.stdout.match(/Using cache/g)).toHaveLength(5);
    expect((await inspect('cache:1')).Id).toBe(id);
    // a new mtime alone is no change
    utimesSync(join(dir, 'app.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(ok(await build(dir, '-t', 'cache:1')).stdout.match(/Using cache/g)).toHaveLength(5);
    // one file changed: the steps before its COPY are hits, that COPY and everything after run again
    writeFileSync(join(dir, 'app.txt'), 'v2\n');
    const partial = ok(await build(dir, '-t', 'cache:2'));
    const steps = partial.stdout.split(/(?=Step \d)/).filter((s) => s.startsWith('Step'));
    expect(steps.map((s) => s.includes('Using cache'))).toEqual([false, true, true, false, false, false]);
    expect(await run('cache:2')).toBe('v2\n');
    expect(await run('cache:1')).toBe('v1\n');
    const nocache = ok(await build(dir, '--no-cache', '-t', 'cache:3'));
    expect(nocache.stdout).not.toContain('Using cache');
    const pruned = ok(await shoal(d, ['builder', 'prune', '-f']));
    expect(pruned.stdout).toMatch(/Total reclaimed space/);
    expect(ok(await build(dir, '-t', 'cache:4')).stdout).not.toContain('Using cache');
    // the images stay whole after the prune's gc
    expect(await run('cache:2')).toBe('v2\n');
  });

  it('runs RUN with no network unless --network host; heredoc scripts; the build args and proxy args as environment', async () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'ARG LEVEL=3',
        'RUN ls /sys/class/net | sort | tr "\\n" " " > /ifaces',
        'RUN <<EOF',
        'echo "level $LEVEL" > /script',
        'echo "proxy $http_proxy" >> /script',
        'EOF',
      ].join('\n'),
    });
    ok(
      await build(
        dir,
        '-t',
        'net:none',
        '--build-arg',
        'LEVEL=9',
        '--build-arg',
        'http_proxy=http://127.0.0.1:3128',
      ),
    );
    expect(await run('net:none', 'cat', '/ifaces')).toBe('lo ');
    expect(await run('net:none', 'cat', '/script')).toBe('level 9\nproxy http://127.0.0.1:3128\n');
    // the proxy arg is not kept in the image's history
    const hist = (await docker(d, ['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'net:none']))
      .stdout;
    expect(hist).toContain('|1 LEVEL=9 /bin/sh -c ls /sys/class/net');
    expect(hist).not.toContain('3128');
    ok(await build(dir, '-t', 'net:host', '--network', 'host'));
    const host = (await run('net:host', 'cat', '/ifaces')).trim().split(' ');
    expect(host.length).toBeGreaterThan(1);
    expect(host).toContain('lo');
  });

  it('a Dockerfile that changes nothing tags its base image (no second manifest)', async () => {
    const base = await inspect('busybox');
    ok(await build(context({ Dockerfile: 'FROM busybox\n' }), '-t', 'same:1'));
    const same = await inspect('same:1');
    expect(same.Id).toBe(base.Id);
    expect(same.RepoTags.sort()).toEqual(['busybox:latest', 'same:1']);
  });

  it('a failing RUN exits non-zero naming the step, leaves no image and no container', async () => {
    const before = await imageIds();
    const dir = context({
      Dockerfile: 'FROM busybox\nRUN echo partial > /p\nRUN echo to-the-log; exit 3\nCMD ["true"]\n',
    });
    const r = await build(dir, '-t', 'fails:1');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('to-the-log');
    expect(r.stderr).toContain(
      "Dockerfile:3: The command '/bin/sh -c echo to-the-log; exit 3' returned a non-zero code: 3",
    );
    expect(await imageIds()).toEqual(before);
    expect((await shoal(d, ['ps', '-aq'])).stdout).toBe('');
  });

  it('refuses bad Dockerfiles with the line named', async () => {
    const cases: [string, string][] = [
      ['FROM busybox\nRUN true\n\n# comment\nRUNN foo\n', 'Dockerfile:5: unknown instruction: RUNN'],
      [
        'FROM busybox\nCOPY missing.txt /x\n',
        'Dockerfile:2: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt',
      ],
      [
        'FROM busybox\nCOPY --from=Not_A_Stage /a /b\n',
        'Dockerfile:2: COPY --from=Not_A_Stage: no stage or image of that name',
      ],
      [
        'FROM busybox AS one\nCOPY --from=two /a /b\nFROM busybox AS two\nFROM one\n',
        'Dockerfile:2: COPY --from=two: a stage can only copy from an earlier stage',
      ],
      ['RUN true\n', 'Dockerfile:1: RUN before the first FROM'],
      ['FROM busybox\nCOPY --bogus=1 a /b\n', 'Dockerfile:2: unknown flag: --bogus'],
      [
        'FROM busybox\nADD http://127.0.0.1:1/x /x\n',
        'Dockerfile:2: ADD http://127.0.0.1:1/x: remote URLs are not supported',
      ],
    ];
    const before = await imageIds();
    for (const [text, message] of cases) {
      const r = await build(context({ Dockerfile: text }));
      expect(r.code, text).not.toBe(0);
      expect(r.stderr, text).toContain(message);
    }
    expect(await imageIds()).toEqual(before);
  });

  it('refuses hostile contexts: links out of the context, ../ sources, tars with ../ names; nothing outside is read or written', async () => {
    const outside = join(work, 'outside-secret');
    writeFileSync(outside, 'host secret');
    const dir = context({ Dockerfile: 'FROM busybox\nCOPY escape /got\n' });
    symlinkSync(outside, join(dir, 'escape'));
    const r1 = await build(dir, '-t', 'hostile:1');
    // the link resolves inside the context, where its target does not exist
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain('file not found in build context');
    symlinkSync('../../../../../../../../etc/hostname', join(dir, 'up'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY up /got\n');
    expect((await build(dir)).stderr).toContain('file not found in build context');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY ../outside-secret /got\n');
    expect((await build(dir)).stderr).toContain('file not found in build context');
    // a directory copied with a link inside keeps the link as a link (never its target's content)
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\n');
    ok(await build(dir, '-t', 'hostile:2'));
    expect(await run('hostile:2', 'readlink', '/ctx/escape')).toBe(`${outside}\n`);
    expect((await shoal(d, ['run', '--rm', 'hostile:2', 'cat', '/ctx/escape'])).code).not.toBe(0);
    // a context tar naming ../ is refused before anything is written
    const target = join(work, 'planted');
    const tar = rawTar([
      ['Dockerfile', 'FROM busybox\n'],
      [`../../../../../../../..${target}`, 'planted'],
    ]);
    const res = await post(d, '/build?t=hostile:3', tar);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/build context/);
    expect(existsSync(target)).toBe(false);
  });
});

describe('docker build (classic builder) against shoald', () => {
  it('builds with DOCKER_BUILDKIT=0, prints the classic stream, uses the cache, and the image runs', async () => {
    const dir = context({
      Dockerfile:
        'FROM busybox\nARG WHO\nCOPY hello.txt /\nRUN echo "hello $WHO" >> /hello.txt\nCMD ["cat", "/hello.txt"]\n',
      'hello.txt': 'from docker\n',
    });
    const env = { DOCKER_BUILDKIT: '0' };
    const r = await dockerEnv(env, ['build', '-t', 'dockerbuilt:1', '--build-arg', 'WHO=world', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Step 3/5 : COPY hello.txt /');
    expect(r.stdout).toMatch(/ ---> [0-9a-f]{12}\n/);
    expect(r.stdout).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged dockerbuilt:1\n/);
    expect((await docker(d, ['run', '--rm', 'dockerbuilt:1'])).stdout).toBe('from docker\nhello world\n');
    const again = await dockerEnv(env, ['build', '-t', 'dockerbuilt:1', '--build-arg', 'WHO=world', dir]);
    expect(again.stdout.match(/Using cache/g)).toHaveLength(4); // ARG, COPY, RUN, CMD
    // -f outside the context: the CLI adds it to the tar (without the final padding: accepted as dockerd does)
    const outside = join(work, 'outside.Dockerfile');
    writeFileSync(outside, 'FROM busybox\nCOPY hello.txt /from-outside\nCMD ["cat", "/from-outside"]\n');
    const f = await dockerEnv(env, ['build', '-f', outside, '-t', 'dockerbuilt:outside', dir]);
    expect(f.code, f.stderr).toBe(0);
    expect((await docker(d, ['run', '--rm', 'dockerbuilt:outside'])).stdout).toBe('from docker\n');
    // -q prints the id only; a bad Dockerfile is the CLI's error with the line named
    const q = await dockerEnv(env, ['build', '-q', '--build-arg', 'WHO=world', dir]);
    expect(q.stdout.trim()).toBe((await inspect('dockerbuilt:1')).Id);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nRUNN x\n');
    const bad = await dockerEnv(env, ['build', dir]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('Dockerfile:2: unknown instruction: RUNN');
  });
});

describe('a built image in the registry', () => {
  let reg: TestRegistry;
  let d2: Daemon;
  beforeAll(async () => {
    [reg, d2] = await Promise.all([startRegistry(), startShoald()]);
  }, 120_000);
  afterAll(async () => {
    await cleanup(d2);
    await reg?.stop();
  }, 120_000);

  it('is pushed to a local registry and pulled and run on a second shoald', async () => {
    const dir = context({
      Dockerfile: 'FROM busybox\nCOPY msg /msg\nRUN rm /bin/vi && echo ran >> /msg\nCMD ["cat", "/msg"]\n',
      msg: 'pushed\n',
    });
    const ref = `${reg.host}/built/app:1`;
    ok(await build(dir, '-t', ref));
    ok(await shoal(d, ['push', ref]));
    ok(await shoal(d2, ['pull', ref]));
    expect(ok(await shoal(d2, ['run', '--rm', ref])).stdout).toBe('pushed\nran\n');
    expect((await shoal(d2, ['run', '--rm', ref, 'ls', '/bin/vi'])).code).not.toBe(0);
  });
});

function dockerEnv(env: Record<string, string>, args: string[]): Promise<Result> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return docker(d, args);
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
  }
}

/** A plain ustar archive with names as given (tar(1) would refuse to write the hostile ones). */
function rawTar(entries: [string, string][]): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, body] of entries) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${Buffer.byteLength(body).toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h);
    const data = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
    data.write(body);
    blocks.push(data);
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function post(dm: Daemon, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      { socketPath: dm.sock, method: 'POST', path, headers: { 'Content-Type': 'application/x-tar' } },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => {
          text += c.toString();
        });
        r.on('end', () => res({ status: r.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', rej);
    req.end(body);
  });
}
