// Container events through GET /events: replay with --since/--until, filters, and following live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  type Daemon,
  docker,
  eventually,
  ROOTFS,
  shoal,
  spawnShoal,
  startShoald,
} from '../daemon/harness.js';

let d: Daemon;
beforeAll(async () => {
  d = await startShoald();
});
afterAll(() => cleanup(d));

describe('events', () => {
  it('replays past events with --since/--until and filters them (docker and shoal CLIs)', async () => {
    const r = await shoal(d, [
      'run',
      '--name',
      'ev1',
      '-l',
      'team=blue',
      '--rootfs',
      ROOTFS,
      'sh',
      '-c',
      'exit 3',
    ]);
    expect(r.code).toBe(3);
    const id = (await shoal(d, ['inspect', '-f', '{{.Id}}', 'ev1'])).stdout.trim();
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const all = await docker(d, ['events', '--since', '0', '--until', until, '--format', '{{.Action}}']);
    expect(all.stdout.split('\n').filter(Boolean)).toEqual(['create', 'attach', 'start', 'die']);
    const die = await shoal(d, [
      'events',
      '--since',
      '0',
      '--until',
      until,
      '-f',
      'event=die',
      '-f',
      'label=team=blue',
    ]);
    expect(die.stdout).toMatch(
      new RegExp(`^\\S+Z container die ${id} \\(exitCode=3, image=, name=ev1, team=blue\\)\\n$`),
    );
    expect(
      (await shoal(d, ['events', '--since', '0', '--until', until, '-f', 'container=nope'])).stdout,
    ).toBe('');
  });

  it('follows new events until interrupted', async () => {
    const p = spawnShoal(d, ['events', '-f', 'container=ev2', '-f', 'container=ev2-ready']);
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      // The subscription is live once it reports a container made after the command started; only
      // then is ev2 run, so none of ev2's events can precede it.
      await eventually(async () => {
        await shoal(d, ['create', '--name', 'ev2-ready', '--rootfs', ROOTFS, 'true']);
        await shoal(d, ['rm', 'ev2-ready']);
        return out.includes('container destroy');
      }, 'the events subscription');
      const before = out.length;
      expect((await shoal(d, ['run', '--rm', '--name', 'ev2', '--rootfs', ROOTFS, 'true'])).code).toBe(0);
      await eventually(
        () => /container destroy \S+ \(.*name=ev2[,)]/.test(out.slice(before)),
        'ev2 destroyed',
      );
      expect(out.slice(before)).toMatch(
        /container create \S+ \(.*name=ev2[,)][\s\S]*container start [\s\S]*container die .*exitCode=0/,
      );
    } finally {
      p.kill();
    }
  });
});
