// A small HTTP proxy on loopback in front of a real registry that injects faults: 500 answers,
// connections dropped mid-blob, corrupted or truncated blobs, replaced manifests, and a bearer-token
// auth layer (with its own token endpoint) so the client's token flow is exercised.
import http from 'node:http';
import type net from 'node:net';

export interface FaultRules {
  /** answer 500 to this many blob GETs first */
  blob500?: number;
  /** drop the connection after this many body bytes, for this many blob GETs */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** flip one byte in every blob body served */
  corruptBlobs?: boolean;
  /** serve only the first half of each blob, with an honest Content-Length, then end */
  truncateBlobs?: boolean;
  /** replace any manifest GET answer */
  manifest?: { contentType: string; body: string };
  /** require bearer tokens from /token, issued for these basic credentials */
  bearer?: { username: string; password: string };
}

export interface FaultProxy {
  host: string;
  rules: FaultRules;
  log: { method: string; path: string; range?: string; auth?: string }[];
  tokensIssued: number;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: FaultRules = {}): Promise<FaultProxy> {
  const [uhost, uport] = upstream.split(':');
  const tokens = new Set<string>();
  const sockets = new Set<net.Socket>();
  const state: FaultProxy = {
    host: '',
    rules,
    log: [],
    tokensIssued: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    state.log.push({
      method: req.method ?? '',
      path: url,
      range: req.headers.range,
      auth: req.headers.authorization,
    });
    const r = state.rules;
    if (r.bearer && url.startsWith('/token')) {
      const want = `Basic ${Buffer.from(`${r.bearer.username}:${r.bearer.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const t = `tok-${tokens.size + 1}-${Date.now()}`;
      tokens.add(t);
      state.tokensIssued++;
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ token: t, expires_in: 300 }));
      return;
    }
    if (r.bearer) {
      const tok = req.headers.authorization?.replace(/^Bearer /, '');
      if (!tok || !tokens.has(tok)) {
        const realm = `http://${state.host}/token`;
        res
          .writeHead(401, {
            'Content-Type': 'application/json',
            'WWW-Authenticate': `Bearer realm="${realm}",service="shoal-test",scope="repository:x:pull"`,
          })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(url);
    if (isBlobGet && (r.blob500 ?? 0) > 0) {
      r.blob500!--;
      res
        .writeHead(500, { 'Content-Type': 'application/json' })
        .end('{"errors":[{"code":"UNKNOWN","message":"injected"}]}');
      return;
    }
    if (req.method === 'GET' && /\/manifests\//.test(url) && r.manifest) {
      res.writeHead(200, { 'Content-Type': r.manifest.contentType }).end(r.manifest.body);
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization; // the upstream registry in bearer tests has no auth
    const up = http.request(
      { host: uhost, port: Number(uport), method: req.method, path: url, headers },
      (ures) => {
        const drop = isBlobGet && r.dropAfterBytes !== undefined && (r.dropTimes ?? 0) > 0;
        const h = { ...ures.headers };
        if (isBlobGet && r.truncateBlobs && (ures.statusCode === 200 || ures.statusCode === 206)) {
          const full = Number(h['content-length']);
          const half = Math.floor(full / 2);
          h['content-length'] = String(half);
          res.writeHead(ures.statusCode ?? 502, h);
          let sent = 0;
          ures.on('data', (c: Buffer) => {
            const take = Math.max(0, Math.min(c.length, half - sent));
            if (take > 0) res.write(c.subarray(0, take));
            sent += take;
          });
          ures.on('end', () => res.end());
          return;
        }
        res.writeHead(ures.statusCode ?? 502, h);
        let sent = 0;
        let flipped = false;
        ures.on('data', (c: Buffer) => {
          let chunk = c;
          if (isBlobGet && r.corruptBlobs && !flipped && ures.statusCode === 200) {
            chunk = Buffer.from(c);
            chunk[Math.floor(chunk.length / 2)] ^= 0xff;
            flipped = true;
          }
          if (drop && sent + chunk.length > r.dropAfterBytes!) {
            if (sent >= r.dropAfterBytes!) return;
            if ((r.dropTimes ?? 0) <= 0) {
              sent += chunk.length;
              res.write(chunk);
              return;
            }
            r.dropTimes!--;
            ures.destroy();
            // let the bytes before the cut reach the client, then kill the connection
            res.write(chunk.subarray(0, r.dropAfterBytes! - sent), () => res.socket?.destroy());
            sent = r.dropAfterBytes!;
            return;
          }
          sent += chunk.length;
          res.write(chunk);
        });
        ures.on('end', () => res.end());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return state;
}
