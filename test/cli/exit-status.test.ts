// Exit statuses of usage errors, beside the real docker CLI's: 125 for a flag that does not parse, 1 for the
// wrong number of arguments or an unknown command. None of these reach a daemon, so none is started: the
// socket named does not exist.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Daemon, docker, shoal } from '../daemon/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-exit-'));
const nowhere = { dir, sock: join(dir, 'no.sock') } as Daemon;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('usage errors exit as docker does', () => {
  it.each([
    ['an unknown flag', ['ps', '--bogus'], 125],
    ['an unknown flag of a service command', ['service', 'create', '--bogus', 'x'], 125],
    ['a flag value that does not parse', ['service', 'create', '--replicas', 'many', 'busybox'], 125],
    ['an unknown top-level flag', ['--bogus', 'ps'], 125],
    ['too few arguments', ['service', 'rm'], 1],
    ['too many arguments', ['volume', 'create', 'a', 'b'], 1],
  ])('%s', async (_what, args, status) => {
    const ours = await shoal(nowhere, args);
    const theirs = await docker(nowhere, args);
    expect(theirs.code, `docker ${args.join(' ')}: ${theirs.stderr}`).toBe(status);
    expect(ours.code, `shoal ${args.join(' ')}: ${ours.stderr}`).toBe(status);
    expect(ours.stderr.trim()).not.toBe('');
  });

  it('an unknown command exits 1 and says so', async () => {
    const r = await shoal(nowhere, ['nosuch']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("'nosuch' is not a shoal command.");
    expect((await docker(nowhere, ['nosuch'])).code).toBe(1);
  });
});

describe('a reader that goes away', () => {
  it('ends the command quietly, no stack trace (docker dies of SIGPIPE)', () => {
    // `--help` writes ~4 KB in several writes; the reader has closed the pipe before the first.
    const r = spawnSync(
      'bash',
      ['-c', `exec 3>&1; "${join(process.cwd(), 'bin/shoal')}" --help | (exec 0<&-; sleep 0.3)`],
      {
        encoding: 'utf8',
        env: { ...process.env, SHOAL_HOST: `unix://${nowhere.sock}` },
      },
    );
    expect(r.stderr).toBe('');
  });
});
