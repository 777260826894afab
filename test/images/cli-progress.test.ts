// The CLI's rendering of progress streams: plain lines off a terminal, lines updated in place on one.
import { PassThrough, Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { ProgressError, ProgressRenderer } from '../../cli/commands/image-progress.js';

function sink(): { out: Writable; text: () => string } {
  let text = '';
  return {
    out: new Writable({
      write(c, _e, cb) {
        text += c.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

const lines = [
  { status: 'Pulling from x', id: '1' },
  { status: 'Pulling fs layer', id: 'aaa' },
  { status: 'Pulling fs layer', id: 'bbb' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 1, total: 4 }, progress: '[==>   ] 1B/4B' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 2, total: 4 }, progress: '[====> ] 2B/4B' },
  { status: 'Pull complete', id: 'bbb' },
  { status: 'Digest: sha256:abc' },
];

it('prints one line per state change when not on a terminal', async () => {
  const s = sink();
  const body = new PassThrough();
  body.end(lines.map((l) => `${JSON.stringify(l)}\r\n`).join(''));
  await new ProgressRenderer(s.out, false).consume(body);
  expect(s.text()).toBe(
    '1: Pulling from x\naaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Downloading\nbbb: Pull complete\nDigest: sha256:abc\n',
  );
});

it('rewrites a layer line in place with its progress bar on a terminal', async () => {
  const s = sink();
  const body = new PassThrough();
  body.end(lines.map((l) => JSON.stringify(l)).join('\n'));
  await new ProgressRenderer(s.out, true).consume(body);
  // "aaa" is 2 lines up from the cursor once "bbb" exists
  expect(s.text()).toContain('\x1b[2A\r\x1b[2Kaaa: Downloading [====> ] 2B/4B\r\x1b[2B');
  expect(s.text()).toContain('\x1b[1A\r\x1b[2Kbbb: Pull complete\r\x1b[1B');
});

it('turns an in-band error into a ProgressError', async () => {
  const body = new PassThrough();
  body.end(
    `${JSON.stringify({ status: 'x' })}\n${JSON.stringify({ errorDetail: { message: 'boom' }, error: 'boom' })}\n`,
  );
  await expect(new ProgressRenderer(sink().out, false).consume(body)).rejects.toThrow(ProgressError);
});
