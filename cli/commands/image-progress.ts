// Renders the daemon's JSON progress stream (pull, push, load) as docker does: on a terminal one line
// per layer, updated in place with a progress bar; otherwise plain lines, one per state change.
import type { Readable, Writable } from 'node:stream';

export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: unknown;
}

export class ProgressError extends Error {}

export class ProgressRenderer {
  private readonly ids: string[] = [];
  private readonly lastPlain = new Map<string, string>();

  constructor(
    private readonly out: Writable,
    private readonly tty: boolean,
  ) {}

  render(m: JsonMessage): void {
    if (m.error || m.errorDetail?.message) throw new ProgressError(m.errorDetail?.message ?? m.error);
    if (m.stream !== undefined) {
      this.out.write(m.stream);
      return;
    }
    if (!m.status) return;
    const text = `${m.id ? `${m.id}: ` : ''}${m.status}${this.tty && m.progress ? ` ${m.progress}` : ''}`;
    if (!this.tty) {
      // a progress update repeats its status: print each state of a layer once
      if (m.id && this.lastPlain.get(m.id) === m.status) return;
      if (m.id) this.lastPlain.set(m.id, m.status);
      this.out.write(`${text}\n`);
      return;
    }
    if (!m.id) {
      this.out.write(`${text}\n`);
      this.ids.length = 0; // lines above are final
      return;
    }
    const i = this.ids.indexOf(m.id);
    if (i < 0) {
      this.ids.push(m.id);
      this.out.write(`${text}\n`);
      return;
    }
    const up = this.ids.length - i;
    // up to the layer's line, rewrite it, back down
    this.out.write(`\x1b[${up}A\r\x1b[2K${text}\r\x1b[${up}B`);
  }

  /** Consumes a JSON-lines body; throws ProgressError for an in-band error. */
  async consume(body: Readable, onMessage?: (m: JsonMessage) => void): Promise<void> {
    let buf = '';
    for await (const chunk of body) {
      buf += (chunk as Buffer).toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (!line) continue;
        let m: JsonMessage;
        try {
          m = JSON.parse(line);
        } catch {
          continue;
        }
        onMessage?.(m);
        this.render(m);
      }
    }
    if (buf.trim()) {
      const m = JSON.parse(buf) as JsonMessage;
      onMessage?.(m);
      this.render(m);
    }
  }
}
