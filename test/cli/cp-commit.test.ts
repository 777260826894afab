// shoal cp, export, diff and commit against a real shoald, each compared with what the real docker CLI
// prints or produces against the same daemon; and bad input: a missing container or path, a path that
// tries to leave the container, bad flags (docker's status 125).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, type Daemon, docker, REPO, type Result, shoal, startShoald } from '../daemon/harness.js';

let d: Daemon;
const work = mkdtempSync(join(tmpdir(), 'shoal-clicp-'));
const C = 'clicp1';

beforeAll(async () => {
  d = await startShoald();
  expect(
    (await docker(d, ['load', '-i', join(REPO, 'test/fixtures/out/images/busybox.docker.tar')])).code,
  ).toBe(0);
  expect((await docker(d, ['run', '-d', '--name', C, 'busybox', 'sleep', '600'])).code).toBe(0);
  const r = await docker(d, [
    'exec',
    C,
    'sh',
    '-c',
    'mkdir -p /d/sub && echo hi > /d/sub/f && ln -s sub/f /d/flink && echo top > /d/top && rm /etc/group',
  ]);
  expect(r.stderr).toBe('');
});
afterAll(async () => {
  await cleanup(d);
  rmSync(work, { recursive: true, force: true });
});

const ok = (r: Result) => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
};
/** Every path under dir with its type and content (symlinks by target), for comparing two copies. */
const tree = (dir: string): string[] =>
  execFileSync('find', [dir, '-mindepth', '1', '-printf', '%P %y %l\\n'])
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort()
    .map((l) => (l.split(' ')[1] === 'f' ? `${l} ${readFileSync(join(dir, l.split(' ')[0]), 'utf8')}` : l));
const shoalBin = (args: string[]) => [join(REPO, 'bin/shoal'), '-H', `unix://${d.sock}`, ...args];
/** A command's stdout into a file (tars are binary: not through the harness's strings). */
function toFile(cmd: string[], file: string): void {
  execFileSync('sh', ['-c', '"$@" > "$OUT"', 'sh', ...cmd], {
    env: {
      ...process.env,
      OUT: file,
      DOCKER_CONFIG: join(d.dir, 'docker-config'),
      DOCKER_HOST: '',
      SHOAL_HOST: '',
    },
  });
}
const tarList = (file: string) =>
  execFileSync('tar', ['-tf', file]).toString().split('\n').filter(Boolean).sort();

describe('shoal cp out of a container, as docker cp', () => {
  it.each([
    ['a directory to a new name', `${C}:/d`, 'new'],
    ['a directory into an existing one', `${C}:/d`, 'existing/'],
    ['a directory\'s content ("/.")', `${C}:/d/.`, 'existing/'],
    ['a file to a new name', `${C}:/d/top`, 'renamed'],
    ['a file into a directory', `${C}:/d/sub/f`, 'existing'],
    ['a symlink as a link', `${C}:/d/flink`, 'link'],
    ['the root to a new name', `${C}:/`, 'root'],
    ['the root into an existing directory', `${C}:/`, 'existing'],
  ])('%s', async (_what, src, dest) => {
    const results: string[][] = [];
    for (const [who, run] of [
      ['shoal', shoal],
      ['docker', docker],
    ] as const) {
      const base = join(work, `out-${who}-${dest.replace(/\W/g, '')}-${src.replace(/\W/g, '')}`);
      mkdirSync(join(base, 'existing'), { recursive: true });
      ok(await run(d, ['cp', src, join(base, dest)]));
      results.push(tree(base));
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0].length).toBeGreaterThan(1);
  });

  it("-L copies the target of a symlink under the link's name", async () => {
    const out = join(work, 'followed');
    mkdirSync(out);
    ok(await shoal(d, ['cp', '-L', `${C}:/d/flink`, join(out, 'x')]));
    expect(readFileSync(join(out, 'x'), 'utf8')).toBe('hi\n');
  });

  it('"-" writes the tar docker writes to stdout', () => {
    const a = join(work, 'shoal.tar');
    const b = join(work, 'docker.tar');
    toFile([process.execPath, ...shoalBin(['cp', `${C}:/d`, '-'])], a);
    toFile(['docker', '-H', `unix://${d.sock}`, 'cp', `${C}:/d`, '-'], b);
    expect(tarList(a)).toEqual(tarList(b));
    expect(tarList(a)).toContain('d/sub/f');
  });
});

describe('shoal cp into a container, as docker cp', () => {
  const src = join(work, 'src');
  beforeAll(() => {
    mkdirSync(join(src, 'in'), { recursive: true });
    writeFileSync(join(src, 'in/a'), 'aaa\n');
    writeFileSync(join(src, 'one'), 'one\n');
  });
  const ls = async (path: string) =>
    ok(
      await docker(d, ['exec', C, 'sh', '-c', `cd ${path} && find . | sort && cat $(find . -type f | sort)`]),
    ).stdout;

  it.each([
    ['a directory to a new name', 'in', '/t-NAME/new'],
    ['a directory into an existing one', 'in', '/t-NAME/'],
    ['a directory\'s content ("/.")', 'in/.', '/t-NAME'],
    ['a file to a new name', 'one', '/t-NAME/renamed'],
    ['a file into a directory', 'one', '/t-NAME'],
  ])('%s', async (_what, from, to) => {
    const seen: string[] = [];
    for (const [who, run] of [
      ['shoal', shoal],
      ['docker', docker],
    ] as const) {
      const dir = `/t-${who}-${from.replace(/\W/g, '')}-${to.replace(/\W/g, '')}`;
      ok(await docker(d, ['exec', C, 'mkdir', '-p', dir]));
      ok(
        await run(d, [
          'cp',
          from.endsWith('/.') ? `${join(src, from)}/.` : join(src, from),
          `${C}:${to.replace('/t-NAME', dir)}`,
        ]),
      );
      seen.push(await ls(dir));
    }
    expect(seen[0]).toEqual(seen[1]);
    expect(seen[0]).toMatch(/(aaa|one)/);
  });

  it("-a gives the files the container's user; without it the archive's owners stay, as docker", async () => {
    const f = join(work, 'owned');
    writeFileSync(f, 'owned\n');
    execFileSync('chown', ['1234:1234', f]);
    // a container with a user: -a makes it the owner
    ok(await docker(d, ['run', '-d', '--name', `${C}-user`, '--user', '42:42', 'busybox', 'sleep', '600']));
    const owners: string[] = [];
    for (const [who, run] of [
      ['shoal', shoal],
      ['docker', docker],
    ] as const) {
      for (const a of [[], ['-a']]) {
        const to = `/tmp/own-${who}${a.join('')}`;
        ok(await run(d, ['cp', ...a, f, `${C}-user:${to}`]));
        owners.push(ok(await docker(d, ['exec', `${C}-user`, 'stat', '-c', '%u:%g', to])).stdout.trim());
      }
    }
    expect(owners).toEqual(['1234:1234', '42:42', '1234:1234', '42:42']);
    // out of the container, -a keeps the container's owners on the local copy too
    ok(await docker(d, ['exec', C, 'sh', '-c', 'echo x > /mine && chown 4321:4321 /mine']));
    ok(await shoal(d, ['cp', '-a', `${C}:/mine`, join(work, 'mine-a')]));
    ok(await shoal(d, ['cp', `${C}:/mine`, join(work, 'mine')]));
    expect(execFileSync('stat', ['-c', '%u:%g', join(work, 'mine-a'), join(work, 'mine')]).toString()).toBe(
      `4321:4321\n${process.getuid?.()}:${process.getgid?.()}\n`,
    );
  });

  it('"-" extracts a tar from stdin into a directory', async () => {
    const t = join(work, 'in.tar');
    execFileSync('tar', ['-cf', t, '-C', src, 'in']);
    ok(await docker(d, ['exec', C, 'mkdir', '/fromstdin']));
    execFileSync(
      'sh',
      ['-c', '"$@" < "$IN"', 'sh', process.execPath, ...shoalBin(['cp', '-', `${C}:/fromstdin`])],
      {
        env: { ...process.env, IN: t, SHOAL_HOST: '' },
      },
    );
    expect(ok(await docker(d, ['exec', C, 'cat', '/fromstdin/in/a'])).stdout).toBe('aaa\n');
  });
});

describe('shoal export, diff and commit, as docker', () => {
  it('export -o writes the tar docker writes; without -o to stdout', async () => {
    const a = join(work, 'exp-shoal.tar');
    const b = join(work, 'exp-docker.tar');
    ok(await shoal(d, ['export', '-o', a, C]));
    ok(await docker(d, ['export', '-o', b, C]));
    expect(tarList(a)).toEqual(tarList(b));
    expect(tarList(a)).toContain('d/sub/f');
    const s = join(work, 'exp-stdout.tar');
    toFile([process.execPath, ...shoalBin(['export', C])], s);
    expect(tarList(s)).toEqual(tarList(a));
  });

  it("diff prints docker's lines", async () => {
    const a = ok(await shoal(d, ['diff', C])).stdout;
    expect(a).toBe(ok(await docker(d, ['diff', C])).stdout);
    expect(a).toContain('A /d\n');
    expect(a).toContain('D /etc/group\n');
    expect(a).toContain('C /etc\n');
  });

  it('commit with author, message and changes makes the image docker makes', async () => {
    const args = [
      '-a',
      'Ann <ann@example.org>',
      '-m',
      'with d',
      '-c',
      'ENV FOO=bar',
      '-c',
      'CMD ["cat", "/d/top"]',
    ];
    const a = ok(await shoal(d, ['commit', ...args, C, 'clicp/img:shoal'])).stdout.trim();
    const b = ok(await docker(d, ['commit', ...args, C, 'clicp/img:docker'])).stdout.trim();
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b).toMatch(/^sha256:[0-9a-f]{64}$/);
    const fmt = '{{.Author}}|{{.Comment}}|{{json .Config.Env}}|{{json .Config.Cmd}}|{{.RepoTags}}';
    const ia = ok(await docker(d, ['image', 'inspect', '-f', fmt, a])).stdout;
    const ib = ok(await docker(d, ['image', 'inspect', '-f', fmt, b])).stdout;
    expect(ia).toBe(ib.replace('clicp/img:docker', 'clicp/img:shoal'));
    expect(ia).toContain('Ann <ann@example.org>|with d|');
    expect(ok(await docker(d, ['run', '--rm', 'clicp/img:shoal'])).stdout).toBe('top\n');
    // --pause=false and no repository: an untagged image
    const c = ok(await shoal(d, ['commit', '--pause=false', C])).stdout.trim();
    expect(ok(await docker(d, ['image', 'inspect', '-f', '{{.RepoTags}}', c])).stdout).toBe('[]\n');
  });
});

describe('bad input', () => {
  it("a missing container: docker's message, status 1, for every command", async () => {
    for (const args of [
      ['cp', 'clicp-nope:/etc/passwd', join(work, 'x')],
      ['cp', join(REPO, 'package.json'), 'clicp-nope:/tmp'],
      ['export', '-o', join(work, 'x.tar'), 'clicp-nope'],
      ['diff', 'clicp-nope'],
      ['commit', 'clicp-nope'],
    ]) {
      const s = await shoal(d, args);
      expect(s.code, args.join(' ')).toBe(1);
      expect(s.stderr).toBe('Error response from daemon: No such container: clicp-nope\n');
      expect((await docker(d, args)).stderr).toContain('No such container: clicp-nope');
    }
  });

  it("bad paths on either side: docker's words and status, nothing written", async () => {
    const pkg = join(REPO, 'package.json');
    const none = join(work, 'no-such-dir');
    const big = join(work, 'big');
    const cases = [
      ['cp', `${C}:/no/such`, join(work, 'y')],
      ['cp', `${C}:/etc/passwd`, `${none}/`],
      ['cp', `${C}:/etc`, pkg],
      ['cp', `${C}:/etc/passwd`, `${pkg}/`],
      ['cp', pkg, `${C}:/no/such/dir/f`],
      // more tar than a socket buffers: the daemon answers before the client has written it all
      ['cp', big, `${C}:/no/such/dir/f`],
      ['cp', join(work, 'nonexistent'), `${C}:/tmp`],
      ['cp', join(REPO, 'cli'), `${C}:/etc/passwd`],
      ['cp', pkg, `${C}:/nodir/`],
      ['cp', '-', `${C}:/etc/passwd`],
      ['cp', join(work, 'a'), join(work, 'b')],
      ['cp', `${C}:/a`, `${C}:/b`],
      ['commit', '-c', 'BOGUS x', C],
    ];
    writeFileSync(big, Buffer.alloc(16 << 20, 7));
    const before = ok(await docker(d, ['diff', C])).stdout;
    for (const args of cases) {
      const s = await shoal(d, args, '');
      const k = await docker(d, args, '');
      // docker's client also logs its tar writer's broken pipe; the error line is the last one
      const dockerErr = k.stderr
        .split('\n')
        .filter((l) => l && !l.startsWith('time='))
        .join('\n');
      expect({ args, code: s.code, err: s.stderr }).toEqual({ args, code: k.code, err: `${dockerErr}\n` });
      expect(s.code).toBe(1);
    }
    expect(ok(await docker(d, ['diff', C])).stdout).toBe(before);
    expect(existsSync(none)).toBe(false);
    expect(readFileSync(pkg, 'utf8')).toMatch(/^\{/);
    const bad = await shoal(d, ['commit', C, 'Bad Repo:x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^invalid reference format/);
    const digest = `clicp/img@sha256:${'a'.repeat(64)}`;
    const dg = await shoal(d, ['commit', C, digest]);
    expect({ code: dg.code, err: dg.stderr }).toEqual({
      code: 1,
      err: (await docker(d, ['commit', C, digest])).stderr,
    });
  });

  it('a path that leaves the container lands inside it, as docker', async () => {
    const out = join(work, 'escape');
    mkdirSync(out);
    ok(await shoal(d, ['cp', `${C}:/../../../etc/hostname`, join(out, 'h')]));
    ok(await docker(d, ['cp', `${C}:/../../../etc/hostname`, join(out, 'hd')]));
    expect(readFileSync(join(out, 'h'), 'utf8')).toBe(readFileSync(join(out, 'hd'), 'utf8'));
    ok(await shoal(d, ['cp', join(REPO, 'package.json'), `${C}:/../../../escaped.json`]));
    expect(ok(await docker(d, ['exec', C, 'head', '-c', '1', '/escaped.json'])).stdout).toBe('{');
  });

  it('flags and arguments: 125 for a bad flag, 1 for a wrong count or two local paths', async () => {
    for (const args of [
      ['cp', '--nope', 'a', 'b'],
      ['commit', '-x', C],
      ['diff', '--bad', C],
      ['export', '--zzz', C],
    ]) {
      const s = await shoal(d, args);
      expect(s.code, args.join(' ')).toBe(125);
      expect((await docker(d, args)).code).toBe(125);
    }
    expect((await shoal(d, ['cp', 'a'])).code).toBe(1);
    const both = await shoal(d, ['cp', join(work, 'a'), join(work, 'b')]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('must specify at least one container source');
    const two = await shoal(d, ['cp', `${C}:/a`, `${C}:/b`]);
    expect(two.stderr).toContain('copying between containers is not supported');
  });

  it("--help prints each command's usage", async () => {
    for (const cmd of ['cp', 'export', 'diff', 'commit']) {
      const h = ok(await shoal(d, [cmd, '--help']));
      expect(h.stdout).toContain(`Usage:  shoal ${cmd}`);
    }
  });
});
