// Detach keys (docker's --detach-keys, default ctrl-p,ctrl-q): parsing and a scanner over an input
// stream that holds back a partial match and reports a complete one, so the keys never reach the
// container. Used by shoald (attach, exec start) and by the CLI (run -it, attach, exec -it).
import { ShoalError } from './errors.js';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

const CTRL_SPECIAL: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

/** "ctrl-p,ctrl-q" → [0x10, 0x11]; as docker's term.ToBytes. */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length > 1 && k.toLowerCase().startsWith('ctrl-') && k.length === 6) {
      const c = k[5].toLowerCase();
      if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 96);
      else if (c in CTRL_SPECIAL) out.push(CTRL_SPECIAL[c]);
      else throw invalid(spec);
    } else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw invalid(spec);
  }
  if (out.length === 0 || out.some((b) => b > 0x7f)) throw invalid(spec);
  return Buffer.from(out);
}

const invalid = (spec: string) =>
  new ShoalError('invalid_argument', `Invalid detach keys (${spec}) provided`, { field: 'detachKeys' });

/** Feeds input through; `detached` once the whole sequence was typed (what followed it is dropped). */
export class DetachScanner {
  private matched = 0;
  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Buffer.from(out), detached: true };
        continue;
      }
      // a partial match that did not go on: its bytes were input after all
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = b === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(b);
    }
    return { forward: Buffer.from(out), detached: false };
  }
}
