import { describe, expect, it } from 'vitest';
import { parseReply } from './reply.js';

const raw = (s: string) => Buffer.from(s, 'latin1');

describe('parseReply', () => {
  it('reads the status, the headers and a body cut to Content-Length', () => {
    const r = parseReply(
      raw('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]'),
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body.toString()).toBe('[]');
  });

  it('joins a chunked body, extensions and all', () => {
    const r = parseReply(
      raw(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n[{"\r\n4\r\na":1\r\n2\r\n}]\r\n0\r\n\r\n',
      ),
    );
    expect(JSON.parse(r.body.toString())).toEqual([{ a: 1 }]);
  });

  it('takes a reply without a body (304, 204) and one that ends with its connection', () => {
    expect(parseReply(raw('HTTP/1.1 304 Not Modified\r\n\r\n')).body.length).toBe(0);
    expect(parseReply(raw('HTTP/1.0 200 OK\r\n\r\nuntil close')).body.toString()).toBe('until close');
  });

  it.each([
    ['no end of headers', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n', /before a whole reply/],
    [
      'a body shorter than announced',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]',
      /cut short \(2 of 10 bytes\)/,
    ],
    ['a bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad Content-Length: -1/],
    [
      'a chunk cut short',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc',
      /chunked reply was cut short/,
    ],
    [
      'a chunk size that is not hex',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      /chunked reply is malformed/,
    ],
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /malformed status line: "SSH-2.0-OpenSSH"/],
  ])('refuses %s, saying what', (_what, text, message) => {
    expect(() => parseReply(raw(text))).toThrow(message);
  });
});
