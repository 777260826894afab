// zstd layers (OCI `tar+zstd`) on a Node.js whose zlib has no zstd: fzstd (a maintained pure-JS
// streaming decoder, no native build) does the decoding. fzstd sizes each frame's window buffer from the
// frame header, up to 2 GB, so a guard walks the frame and block headers ahead of it and refuses a frame
// asking for more than libzstd's default decoding limit (windowLog 27, 128 MiB) before fzstd sees it.
import { Decompress } from 'fzstd';

/** libzstd's ZSTD_WINDOWLOG_LIMIT_DEFAULT: what zstd(1) and containerd decode without extra flags. */
export const MAX_ZSTD_WINDOW = 1 << 27;

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** A refused or undecodable zstd stream; `truncated` when the input ended inside a frame. */
export class ZstdStreamError extends Error {
  constructor(
    message: string,
    readonly truncated = false,
  ) {
    super(message);
  }
}

type Need = 'magic' | 'skipSize' | 'descriptor' | 'header' | 'block';

/**
 * Walks zstd frames by their headers only (no decoding): frame header → block headers (each names its
 * compressed length) → optional checksum → next frame. Throws on a frame whose window exceeds the limit,
 * a reserved block type or a reserved descriptor bit.
 */
export class ZstdFrameGuard {
  private need: Need = 'magic';
  private want = 4;
  private acc: Buffer[] = [];
  private accLen = 0;
  private skip = 0;
  private checksum = false;
  /** true between frames: the stream may end here */
  atBoundary = true;

  constructor(private readonly maxWindow = MAX_ZSTD_WINDOW) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const n = Math.min(this.want - this.accLen, chunk.length - off);
      this.acc.push(chunk.subarray(off, off + n));
      this.accLen += n;
      off += n;
      if (this.accLen < this.want) return;
      const b = this.acc.length === 1 ? this.acc[0] : Buffer.concat(this.acc, this.accLen);
      this.acc = [];
      this.accLen = 0;
      this.step(b);
    }
  }

  private expect(need: Need, want: number): void {
    this.need = need;
    this.want = want;
  }

  private step(b: Buffer): void {
    switch (this.need) {
      case 'magic': {
        const magic = b.readUInt32LE(0);
        this.atBoundary = false;
        if (magic === FRAME_MAGIC) {
          this.expect('descriptor', 1);
          return;
        }
        if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          this.expect('skipSize', 4);
          return;
        }
        throw new ZstdStreamError(`not a zstd frame (magic 0x${magic.toString(16)})`);
      }
      case 'skipSize':
        this.skip = b.readUInt32LE(0);
        this.atBoundary = true; // a skippable frame's body is opaque; its end is the next boundary
        this.expect('magic', 4);
        return;
      case 'descriptor': {
        const d = b[0];
        if (d & 0x08) throw new ZstdStreamError('frame header: reserved bit set');
        const single = (d >> 5) & 1;
        const fcsBytes = [single, 2, 4, 8][d >> 6];
        const dictBytes = [0, 1, 2, 4][d & 3];
        this.checksum = ((d >> 2) & 1) === 1;
        // the rest of the header, with the descriptor kept in front for `header`
        this.acc = [b];
        this.accLen = 1;
        this.expect('header', 1 + (single ? 0 : 1) + dictBytes + fcsBytes);
        return;
      }
      case 'header': {
        const d = b[0];
        const single = (d >> 5) & 1;
        let window: number;
        if (!single) {
          const wd = b[1];
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        } else {
          // single segment: the window is the whole content, whose size ends the header
          const fcsBytes = [1, 2, 4, 8][d >> 6];
          const at = b.length - fcsBytes;
          window =
            fcsBytes === 8
              ? Number(b.readBigUInt64LE(at))
              : b.readUIntLE(at, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
        }
        if (window > this.maxWindow)
          throw new ZstdStreamError(
            `frame needs a ${window}-byte window, more than the ${this.maxWindow} bytes allowed`,
          );
        this.expect('block', 3);
        return;
      }
      case 'block': {
        const h = b.readUIntLE(0, 3);
        const last = h & 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw new ZstdStreamError('block header: reserved block type');
        this.skip = type === 1 ? 1 : size; // an RLE block carries one byte
        if (!last) {
          this.expect('block', 3);
          return;
        }
        if (this.checksum) this.skip += 4;
        this.atBoundary = true;
        this.expect('magic', 4);
        return;
      }
    }
  }

  /** Whether the stream may end now (not inside a frame, nor inside a skippable frame's body). */
  complete(): boolean {
    return this.atBoundary && this.skip === 0 && this.accLen === 0;
  }
}

/** The decompressed bytes of a zstd stream (one or more frames), with the window bound above. */
export async function* zstdDecompress(
  src: AsyncIterable<Buffer>,
  maxWindow = MAX_ZSTD_WINDOW,
): AsyncGenerator<Buffer> {
  const guard = new ZstdFrameGuard(maxWindow);
  let out: Buffer[] = [];
  const d = new Decompress((data) => {
    if (data.length > 0) out.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  });
  const push = (c: Uint8Array, final: boolean) => {
    try {
      d.push(c, final);
    } catch (e) {
      // fzstd's errors carry a numeric code; 5 is "unexpected EOF"
      const code = (e as { code?: number }).code;
      throw new ZstdStreamError((e as Error).message, code === 5);
    }
  };
  for await (const c of src) {
    guard.feed(c);
    push(c, false);
    if (out.length) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  if (!guard.complete()) throw new ZstdStreamError('stream ends inside a frame', true);
  push(new Uint8Array(0), true);
  yield* out;
}
