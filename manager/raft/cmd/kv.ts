// The key-value state machine run by raftnode (tests and benchmark). Commands are binary:
//   put: u8 1 | u16 keyLength | key (utf8) | value
import type { StateMachine } from '../node/state-machine.js';

const PUT = 1;

export function encodePut(key: string, value: Uint8Array): Uint8Array {
  const k = Buffer.from(key, 'utf8');
  const out = Buffer.allocUnsafe(3 + k.length + value.length);
  out[0] = PUT;
  out.writeUInt16LE(k.length, 1);
  k.copy(out, 3);
  out.set(value, 3 + k.length);
  return out;
}

export class KvStateMachine implements StateMachine<void> {
  readonly map = new Map<string, Uint8Array>();

  apply(data: Uint8Array): void {
    if (data[0] !== PUT || data.length < 3) return; // unknown commands are ignored by every replica alike
    const kl = data[1] | (data[2] << 8);
    const key = Buffer.from(data.buffer, data.byteOffset + 3, kl).toString('utf8');
    // A copy: the entry buffer may be a slice of a whole network frame.
    this.map.set(key, Uint8Array.prototype.slice.call(data, 3 + kl));
  }

  get(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }

  /** u32 count | (u16 keyLength | key | u32 valueLength | value)* */
  snapshot(): Uint8Array {
    let size = 4;
    const keys: Buffer[] = [];
    for (const [k, v] of this.map) {
      const kb = Buffer.from(k, 'utf8');
      keys.push(kb);
      size += 6 + kb.length + v.length;
    }
    const out = Buffer.allocUnsafe(size);
    out.writeUInt32LE(this.map.size, 0);
    let off = 4;
    let i = 0;
    for (const v of this.map.values()) {
      const kb = keys[i++];
      out.writeUInt16LE(kb.length, off);
      kb.copy(out, off + 2);
      off += 2 + kb.length;
      out.writeUInt32LE(v.length, off);
      out.set(v, off + 4);
      off += 4 + v.length;
    }
    return out;
  }

  restore(data: Uint8Array): void {
    this.map.clear();
    if (data.length === 0) return;
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const n = buf.readUInt32LE(0);
    let off = 4;
    for (let i = 0; i < n; i++) {
      const kl = buf.readUInt16LE(off);
      const key = buf.toString('utf8', off + 2, off + 2 + kl);
      off += 2 + kl;
      const vl = buf.readUInt32LE(off);
      this.map.set(key, Uint8Array.prototype.slice.call(buf, off + 4, off + 4 + vl));
      off += 4 + vl;
    }
  }
}
