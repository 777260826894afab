// SHA-256 of a stream of chunks, computed on the thread pool. A pull hashes the blob and the
// uncompressed tar of every layer (~350 MB for a 200 MB image): on the event loop that was the
// largest single cost of a pull and held up everything else the daemon does meanwhile.
import type { Digest } from '../../common/digest.js';
import { type NativeSha256, newSha256 } from '../engine/native.js';
import { drop, hold } from './chunk-pool.js';

/** Chunks queued before update() makes its caller wait: bounds the bytes held for hashing. */
const WINDOW = 4;

export class StreamHash {
  private readonly h: NativeSha256 = newSha256();
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  /** the first failed update (a write): later updates fail at once, digest() with it */
  private failed: { error: unknown } | null = null;

  /**
   * Queues a chunk, which must not change afterwards (a pooled one is held until hashed). Resolves
   * at once, unless WINDOW chunks are waiting: then once they are hashed (backpressure). With fd,
   * each chunk is also appended to that file once hashed, in order; digest() waits for the writes too.
   */
  async update(chunk: Buffer, fd?: number): Promise<void> {
    if (this.failed) throw this.failed.error;
    if (chunk.length === 0) return;
    this.queued++;
    hold(chunk);
    this.tail = this.tail
      .then(() => this.h.update(chunk, fd))
      .catch((error) => {
        this.failed ??= { error };
        throw error;
      })
      .finally(() => {
        this.queued--;
        drop(chunk);
      });
    this.tail.catch(() => {}); // observed by digest(); never an unhandled rejection meanwhile
    if (this.queued >= WINDOW) await this.tail;
  }

  /** Once every queued update has run (or failed): nothing of this hash touches its buffers or fd. */
  async settled(): Promise<void> {
    await this.tail.catch(() => {});
  }

  /** The digest of every chunk queued so far (updates may go on). */
  async digest(): Promise<Digest> {
    await this.tail;
    return `sha256:${this.h.digest()}`;
  }
}
