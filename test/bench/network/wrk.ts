// Debian's `wrk` as the load generator of the network benchmark: run from inside a network namespace
// (nsenter --net only) or from the bench's own, its summary parsed into requests per second and errors.
import { spawn } from 'node:child_process';

export interface WrkOptions {
  /** A network namespace file to run wrk in; none: the bench's own namespace. */
  netns?: string;
  seconds: number;
  connections: number;
  threads: number;
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** socket errors (connect, read, write, timeout) plus non-2xx/3xx answers */
  errors: number;
}

/** Reads wrk's text summary; throws when it has no `Requests/sec` line (wrk failed). Pure. */
export function parseWrk(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const total = /^\s*(\d+) requests in /m.exec(text);
  if (!rps || !total) throw new Error(`wrk printed no summary:\n${text.trim()}`);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (sock) errors += sock.slice(1).reduce((a, b) => a + Number(b), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) errors += Number(non2xx[1]);
  return { rps: Number(rps[1]), requests: Number(total[1]), errors };
}

/** One wrk run against `url`; resolves with its parsed summary. */
export function wrk(url: string, o: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, url];
  const [cmd, argv] = o.netns ? ['nsenter', [`--net=${o.netns}`, '--', 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`wrk exited ${code}:\n${out.trim()}`);
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
