// Stream helpers for attach, exec and logs: Docker's multiplexed frames and the hijacked-socket plumbing.
import type { Duplex, Writable } from 'node:stream';
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from '../../common/detach-keys.js';

export const STDOUT = 1;
export const STDERR = 2;
export const SYSERR = 3;

/** `[stream,0,0,0,size u32 BE] + payload`: one frame of Docker's stdcopy multiplexing. */
export function muxFrame(stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/**
 * Joins a hijacked client socket and an engine stream: output flows to the client until the engine
 * stream ends; the client's half-close becomes EOF on the engine stream's input (stdin), while output
 * keeps flowing. Resolves when both directions are done or either side fails.
 */
export interface SpliceOptions {
  /** Detach keys: when the client types them the attach ends, the container's stdin left open. */
  detachKeys?: Buffer;
  /**
   * The end of the client's input ends the attach instead of the container's stdin (a TTY, as dockerd:
   * a terminal's stdin is never closed by a client that goes).
   */
  keepStdinOpen?: boolean;
}

export function splice(client: Duplex, engine: Duplex, opts: SpliceOptions = {}): Promise<void> {
  const scanner = opts.detachKeys ? new DetachScanner(opts.detachKeys) : undefined;
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
    engine.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) {
        engine.pause();
        client.once('drain', () => engine.resume());
      }
    });
    engine.on('end', () => {
      client.end();
      finish();
    });
    engine.on('error', () => {
      client.destroy();
      finish();
    });
    engine.on('close', () => {
      if (!client.writableEnded) client.end();
      finish();
    });
    /** Leaves the container as it is: the monitor drops a client that goes without a half-close. */
    const detach = () => {
      engine.destroy();
      if (!client.writableEnded) client.end();
      finish();
    };
    client.on('data', (chunk: Buffer) => {
      if (!scanner) {
        engine.write(chunk);
        return;
      }
      const r = scanner.feed(chunk);
      if (r.forward.length) engine.write(r.forward);
      if (r.detached) detach();
    });
    client.on('end', () => {
      if (opts.keepStdinOpen) detach();
      else if (!engine.writableEnded) engine.end();
    });
    client.on('error', () => engine.destroy());
    client.on('close', () => {
      // The client hung up entirely: nobody reads the output any more.
      if (!engine.destroyed && engine.readableEnded === false) engine.destroy();
      finish();
    });
    client.resume();
  });
}

/** Writes and waits for the write to be accepted (backpressure for long log streams). */
export function writeAsync(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed) return reject(new Error('stream closed'));
    if (out.write(chunk)) resolve();
    else {
      const onDrain = () => {
        out.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        out.off('drain', onDrain);
        reject(new Error('stream closed'));
      };
      out.once('drain', onDrain);
      out.once('close', onClose);
    }
  });
}

/**
 * With stdin attached: the exec's detach keys (a TTY's default ctrl-p,ctrl-q; with no TTY only keys
 * asked for, so piped bytes are never taken for them), and a TTY's stdin is not closed by the client.
 */
export function stdinPolicy(o: { attachStdin?: boolean; detachKeys?: string }, tty: boolean): SpliceOptions {
  if (!o.attachStdin) return {};
  const spec = o.detachKeys || (tty ? DEFAULT_DETACH_KEYS : undefined);
  return { detachKeys: spec ? parseDetachKeys(spec) : undefined, keepStdinOpen: tty };
}
