// Client side of attach/exec/logs streams: demultiplexing Docker's frames, raw terminal mode,
// forwarding stdin with a half-close at EOF.

import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { DetachScanner } from '../common/detach-keys.js';

/** Splits Docker's multiplexed stream (`[stream,0,0,0,size u32 BE] payload`) into stdout and stderr. */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(
    private readonly stdout: Writable,
    private readonly stderr: Writable,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream = this.buf[0];
      const payload = this.buf.subarray(8, 8 + size);
      this.buf = this.buf.subarray(8 + size);
      if (stream === 2 || stream === 3) this.stderr.write(payload);
      else this.stdout.write(payload);
    }
  }
}

/** Copies a response stream (multiplexed unless tty) to the local stdout/stderr; resolves at its end. */
export function pumpOutput(src: Readable, tty: boolean, stdout: Writable, stderr: Writable): Promise<void> {
  const demux = tty ? undefined : new Demuxer(stdout, stderr);
  return new Promise((resolve) => {
    src.on('data', (chunk: Buffer) => (demux ? demux.push(chunk) : stdout.write(chunk)));
    src.on('end', resolve);
    src.on('close', resolve);
    src.on('error', () => resolve());
  });
}

/** Sends local stdin into the hijacked socket; half-closes the socket at EOF (or at once without stdin). */
export function pumpInput(
  socket: Socket,
  stdin: (Readable & { isTTY?: boolean }) | undefined,
  /** Detach keys: typed, they end the session (onDetach) without sending them or closing stdin. */
  detach?: { keys: Buffer; onDetach: () => void },
): void {
  if (!stdin) {
    socket.end();
    return;
  }
  const scanner = detach ? new DetachScanner(detach.keys) : undefined;
  stdin.on('data', (chunk: Buffer) => {
    if (socket.destroyed || socket.writableEnded) return;
    if (!scanner) {
      socket.write(chunk);
      return;
    }
    const r = scanner.feed(chunk);
    if (r.forward.length) socket.write(r.forward);
    if (r.detached) {
      socket.destroy();
      detach?.onDetach();
    }
  });
  stdin.on('end', () => {
    if (!socket.destroyed) socket.end();
  });
  stdin.resume();
}

/** Raw mode on a local terminal for `-it`; returns the function that restores it. */
export function enterRawMode(stdin: NodeJS.ReadStream): () => void {
  if (!stdin.isTTY) return () => {};
  stdin.setRawMode(true);
  return () => {
    try {
      stdin.setRawMode(false);
    } catch {}
  };
}
