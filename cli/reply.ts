// Parses a whole HTTP/1.1 reply read up to the end of its connection: status, headers, and the body,
// de-chunked when the daemon streamed it (Transfer-Encoding: chunked) and cut to Content-Length.
export interface Reply {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

export class ReplyError extends Error {}

const CRLF = Buffer.from('\r\n');

export function parseReply(raw: Buffer): Reply {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new ReplyError('the daemon closed the connection before a whole reply');
  const [statusLine, ...fields] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})\b/.exec(statusLine);
  if (!m)
    throw new ReplyError(
      `the daemon sent a malformed status line: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  const headers = new Map<string, string>();
  for (const f of fields) {
    const i = f.indexOf(':');
    if (i > 0) headers.set(f.slice(0, i).trim().toLowerCase(), f.slice(i + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (/\bchunked\b/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
  else if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(n) || n < 0)
      throw new ReplyError(`the daemon sent a bad Content-Length: ${headers.get('content-length')}`);
    if (body.length < n)
      throw new ReplyError(`the daemon's reply was cut short (${body.length} of ${n} bytes)`);
    body = body.subarray(0, n);
  }
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf(CRLF, at);
    if (eol < 0) throw new ReplyError("the daemon's chunked reply was cut short");
    const size = Number.parseInt(b.subarray(at, eol).toString('latin1').split(';')[0], 16);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new ReplyError("the daemon's chunked reply is malformed");
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (start + size + 2 > b.length) throw new ReplyError("the daemon's chunked reply was cut short");
    parts.push(b.subarray(start, start + size));
    at = start + size + 2;
  }
}
