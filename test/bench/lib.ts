// Pieces shared by the benchmarks: a keep-alive Engine API client on a unix socket and small statistics.
import { Agent, request } from 'node:http';

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** One long-lived client, as a daemon's real clients are: the CLI's own start-up is not measured. */
export class ApiClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  /** `timeoutMs` > 0 fails a call that has not been answered by then (a daemon that hangs, a lost leader). */
  constructor(
    private readonly sock: string,
    private readonly timeoutMs = 0,
  ) {}

  /** Resolves with status and body; `onHeaders` fires when the response headers arrive. */
  call(
    method: string,
    path: string,
    body?: unknown,
    onHeaders?: () => void,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.sock,
          agent: this.agent,
          method,
          path: `/v1.41${path}`,
          headers: payload ? { 'Content-Type': 'application/json' } : {},
        },
        (res) => {
          onHeaders?.();
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      if (this.timeoutMs > 0)
        req.setTimeout(this.timeoutMs, () =>
          req.destroy(new Error(`${method} ${path}: no answer in ${this.timeoutMs} ms`)),
        );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async ok(method: string, path: string, body?: unknown): Promise<string> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
    return r.body;
  }

  close(): void {
    this.agent.destroy();
  }
}
