// gRPC transport between raft members: one client stream per peer carrying batches of messages, and a
// separate chunked stream for snapshots. Credentials are injected (insecure in tests, mTLS in shoald).
//
// Raft tolerates lost messages, so the transport never blocks the driver: while a peer is unreachable its
// messages are dropped and the core is told (reportUnreachable), and a stream that falls too far behind
// is treated the same way. Reconnects back off exponentially with jitter.
import * as grpc from '@grpc/grpc-js';
import {
  type ProposeResponse,
  RaftServiceClient,
  type RaftServiceServer,
  RaftServiceService,
  type SendSnapshotRequest,
  type StreamRequest,
} from '../../../proto/gen/shoal/raft/v1/raft.js';
import type { Message, NodeId, Snapshot } from '../core/types.js';
import { messageFromWire, messageToWire, metadataFromWire, metadataToWire } from './wire.js';

export interface TransportHandlers {
  /** A message from a peer, to be stepped into the core. */
  onMessage(m: Message): void;
  /** Messages to `id` were dropped (peer down or too slow). */
  onUnreachable(id: NodeId): void;
  /**
   * A connection to or from `id` broke (its stream failed, not merely fell behind): the peer may have
   * crashed. Raft uses it to replace a dead leader without waiting out a whole election timeout.
   */
  onPeerLost?(id: NodeId): void;
  /** A snapshot transfer to `id` finished. */
  onSnapshotStatus(id: NodeId, ok: boolean): void;
  /** A peer announced its address on an incoming stream (how a joining member learns the leader's). */
  onPeerAddress?(id: NodeId, address: string): void;
  /**
   * A follower's proposal: append it if this member leads and say where it went. Throws a ForwardRefusal
   * when it cannot (not the leader, too large, storage fault); absent: forwarded proposals are refused.
   */
  onPropose?(data: Uint8Array): { index: number; term: number };
}

/** Why a member refused a forwarded proposal; travels as a gRPC status and is rebuilt on the follower. */
export class ForwardRefusal extends Error {
  constructor(
    readonly code: 'not_leader' | 'invalid' | 'storage',
    message: string,
  ) {
    super(message);
    this.name = 'ForwardRefusal';
  }
}

const REFUSAL_STATUS: Record<ForwardRefusal['code'], grpc.status> = {
  not_leader: grpc.status.FAILED_PRECONDITION,
  invalid: grpc.status.INVALID_ARGUMENT,
  storage: grpc.status.ABORTED,
};

export interface TransportOptions {
  id: NodeId;
  /** The address other members reach this one at (sent to peers so they can answer). */
  advertiseAddress: string;
  credentials: grpc.ChannelCredentials;
  handlers: TransportHandlers;
  snapshotChunkBytes?: number;
  /** Batches buffered for one peer before its messages are dropped. */
  maxQueuedBatches?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  log?: (msg: string) => void;
  /** Largest snapshot accepted from a peer. */
  maxSnapshotBytes?: number;
}

const FROM_KEY = 'x-raft-from';
const ADDR_KEY = 'x-raft-address';

class Peer {
  client: grpc.Client & RaftServiceClient;
  stream: grpc.ClientWritableStream<StreamRequest> | null = null;
  retryAt = 0;
  failures = 0;
  snapshotInFlight = false;

  constructor(
    readonly id: NodeId,
    readonly address: string,
    readonly credentials: grpc.ChannelCredentials,
  ) {
    this.client = new RaftServiceClient(address, credentials, {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.enable_channelz': 0, // per-call bookkeeping nothing reads
    }) as grpc.Client & RaftServiceClient;
  }
}

export class RaftTransport {
  private readonly peers = new Map<NodeId, Peer>();
  private closed = false;
  private readonly chunk: number;
  private readonly maxQueued: number;
  private readonly backoffInitial: number;
  private readonly backoffMax: number;
  private readonly random: () => number;
  private readonly log: (msg: string) => void;
  private readonly maxSnapshot: number;
  private readonly inbound = new Set<grpc.ServerReadableStream<unknown, unknown>>();
  private credentials: grpc.ChannelCredentials;

  constructor(private readonly opts: TransportOptions) {
    this.credentials = opts.credentials;
    this.chunk = opts.snapshotChunkBytes ?? 1024 * 1024;
    this.maxQueued = opts.maxQueuedBatches ?? 4096;
    this.backoffInitial = opts.backoffInitialMs ?? 50;
    this.backoffMax = opts.backoffMaxMs ?? 2000;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
    this.maxSnapshot = opts.maxSnapshotBytes ?? 4 * 1024 * 1024 * 1024;
  }

  /** The service to register on the caller's gRPC server. */
  service(): { definition: typeof RaftServiceService; implementation: RaftServiceServer } {
    return { definition: RaftServiceService, implementation: this.serverImpl() };
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.opts.id || this.closed) return;
    const cur = this.peers.get(id);
    if (cur && cur.address === address) return;
    if (cur) this.dropPeer(cur);
    this.peers.set(id, new Peer(id, address, this.credentials));
  }

  /**
   * A renewed certificate or a new root: each peer's connection is remade with them when its stream next
   * opens (a stream that works is left alone, so nothing in flight is cut).
   */
  setCredentials(credentials: grpc.ChannelCredentials): void {
    this.credentials = credentials;
  }

  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (p) this.dropPeer(p);
    this.peers.delete(id);
  }

  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  peerAddress(id: NodeId): string | undefined {
    return this.peers.get(id)?.address;
  }

  /** Sends one Ready's messages: grouped per peer into one batch, snapshots on their own stream. */
  send(msgs: readonly Message[]): void {
    if (msgs.length === 0 || this.closed) return;
    let byPeer: Map<NodeId, Message[]> | null = null;
    for (const m of msgs) {
      if (m.type === 'snap' && m.snapshot) {
        this.sendSnapshot(m);
        continue;
      }
      byPeer ??= new Map();
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    if (!byPeer) return;
    for (const [to, list] of byPeer) this.sendBatch(to, list);
  }

  /**
   * Forwards a proposal to the leader `to`; resolves with where the leader appended it. Rejects with a
   * ForwardRefusal when the leader refused it (nothing was appended), else with an Error: the call failed
   * and the entry may or may not have been appended.
   */
  forwardPropose(to: NodeId, data: Uint8Array, timeoutMs: number): Promise<{ index: number; term: number }> {
    const peer = this.peers.get(to);
    if (!peer || this.closed)
      return Promise.reject(new ForwardRefusal('not_leader', `no connection to the leader (member ${to})`));
    const md = new grpc.Metadata();
    md.set(FROM_KEY, String(this.opts.id));
    md.set(ADDR_KEY, this.opts.advertiseAddress);
    return new Promise((resolve, reject) => {
      peer.client.propose(
        { data: Buffer.from(data.buffer, data.byteOffset, data.length) },
        md,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: ProposeResponse) => {
          if (!err && res) return resolve({ index: res.index, term: res.term });
          const refusal = Object.entries(REFUSAL_STATUS).find(([, code]) => code === err?.code)?.[0];
          if (refusal)
            return reject(new ForwardRefusal(refusal as ForwardRefusal['code'], err?.details ?? ''));
          // A lost connection or a deadline may come after the leader appended the entry.
          reject(new Error(`forwarding to the leader (member ${to}) failed: ${err?.details ?? 'no answer'}`));
        },
      );
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) this.dropPeer(p);
    this.peers.clear();
    for (const call of this.inbound) call.destroy();
    this.inbound.clear();
  }

  private sendBatch(to: NodeId, list: Message[]): void {
    const peer = this.peers.get(to);
    if (!peer) {
      this.opts.handlers.onUnreachable(to);
      return;
    }
    const stream = this.streamFor(peer);
    if (!stream || stream.writableLength >= this.maxQueued) {
      this.opts.handlers.onUnreachable(to);
      return;
    }
    const wire = new Array(list.length);
    for (let i = 0; i < list.length; i++) wire[i] = messageToWire(list[i]);
    stream.write({ messages: wire });
  }

  private streamFor(initial: Peer): grpc.ClientWritableStream<StreamRequest> | null {
    if (initial.stream) return initial.stream;
    if (Date.now() < initial.retryAt) return null;
    const peer = this.withCurrentCredentials(initial);
    const md = new grpc.Metadata();
    md.set(FROM_KEY, String(this.opts.id));
    md.set(ADDR_KEY, this.opts.advertiseAddress);
    const stream = peer.client.stream(md, (err) => {
      if (peer.stream !== stream) return;
      peer.stream = null;
      if (err && !this.closed) {
        peer.failures++;
        const delay = Math.min(this.backoffMax, this.backoffInitial * 2 ** Math.min(peer.failures - 1, 10));
        peer.retryAt = Date.now() + delay * (0.5 + this.random() / 2);
        if (peer.failures === 1 || peer.failures % 20 === 0) {
          this.log(`transport: stream to ${peer.id} at ${peer.address} failed (${err.code}: ${err.details})`);
        }
        this.opts.handlers.onUnreachable(peer.id);
        this.opts.handlers.onPeerLost?.(peer.id);
      }
    });
    stream.on('error', () => {}); // reported through the callback above
    peer.stream = stream;
    return stream;
  }

  private sendSnapshot(m: Message): void {
    const peer = this.peers.get(m.to);
    const snap = m.snapshot as Snapshot;
    if (!peer || peer.snapshotInFlight) {
      this.opts.handlers.onSnapshotStatus(m.to, false);
      return;
    }
    peer.snapshotInFlight = true;
    const md = new grpc.Metadata();
    md.set(FROM_KEY, String(this.opts.id));
    md.set(ADDR_KEY, this.opts.advertiseAddress);
    const done = (ok: boolean, why?: string) => {
      if (!peer.snapshotInFlight) return;
      peer.snapshotInFlight = false;
      if (!ok) this.log(`transport: snapshot ${snap.metadata.index} to ${m.to} failed: ${why}`);
      this.opts.handlers.onSnapshotStatus(m.to, ok);
    };
    const call = peer.client.sendSnapshot(md, (err) => done(!err, err?.details));
    call.on('error', () => {});
    const header = messageToWire({ ...m, snapshot: undefined });
    const data = snap.data;
    const total = data.length;
    let offset = 0;
    let first = true;
    const pump = () => {
      while (first || offset < total) {
        const end = Math.min(total, offset + this.chunk);
        const req: SendSnapshotRequest = {
          message: first ? header : undefined,
          metadata: first ? metadataToWire(snap.metadata) : undefined,
          totalBytes: total,
          offset,
          data: Buffer.from(data.buffer, data.byteOffset + offset, end - offset),
        };
        first = false;
        offset = end;
        if (!call.write(req) && offset < total) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  }

  /** The peer itself, or (credentials changed since it was made, and it has no open stream) a new one. */
  private withCurrentCredentials(p: Peer): Peer {
    if (p.credentials === this.credentials || p.snapshotInFlight) return p;
    const fresh = new Peer(p.id, p.address, this.credentials);
    fresh.retryAt = p.retryAt;
    fresh.failures = p.failures;
    this.dropPeer(p);
    this.peers.set(p.id, fresh);
    return fresh;
  }

  private dropPeer(p: Peer): void {
    p.stream?.end();
    p.stream = null;
    p.client.close();
  }

  private serverImpl(): RaftServiceServer {
    return {
      propose: (call, callback) => {
        const handler = this.opts.handlers.onPropose;
        if (!handler)
          return callback({
            code: grpc.status.FAILED_PRECONDITION,
            details: 'proposals are not forwarded here',
          });
        try {
          callback(null, handler(call.request.data));
        } catch (err) {
          const code = err instanceof ForwardRefusal ? REFUSAL_STATUS[err.code] : grpc.status.INTERNAL;
          callback({ code, details: (err as Error).message }, null);
        }
      },
      stream: (call, callback) => {
        // Headers now, not with the answer at the stream's end: until a client stream hears them, grpc-js
        // keeps a copy of every message it sent (to replay on a retry), up to 1 MB of them a stream; a
        // leader's memory grew ~1.4 MB each time a 60-task service came and went.
        call.sendMetadata(new grpc.Metadata());
        this.inbound.add(call);
        const from = this.notePeer(call.metadata);
        call.on('data', (req: StreamRequest) => {
          // Hearing from a peer proves it is up: retry our stream to it without waiting out the backoff.
          const sender = req.messages.length > 0 ? this.peers.get(req.messages[0].from) : undefined;
          if (sender && sender.failures > 0) {
            sender.failures = 0;
            sender.retryAt = 0;
          }
          for (const w of req.messages) {
            let m: Message;
            try {
              m = messageFromWire(w);
            } catch (err) {
              this.log(`transport: dropping bad message: ${(err as Error).message}`);
              continue;
            }
            this.opts.handlers.onMessage(m);
          }
        });
        call.on('end', () => {
          this.inbound.delete(call);
          callback(null, {});
        });
        const lost = () => {
          this.inbound.delete(call);
          // The sender went away without ending its stream (a crash closes its sockets at once).
          if (from !== undefined && !this.closed) this.opts.handlers.onPeerLost?.(from);
        };
        // grpc-js says 'cancelled' when the caller's connection drops (then destroys the stream, no error).
        call.on('cancelled', lost);
        call.on('error', lost);
      },
      sendSnapshot: (call, callback) => {
        call.sendMetadata(new grpc.Metadata()); // the sender then keeps no copy of the chunks (see stream)
        this.inbound.add(call);
        this.notePeer(call.metadata);
        let header: SendSnapshotRequest | null = null;
        let buf: Buffer | null = null;
        let received = 0;
        let failed = false;
        const fail = (code: grpc.status, details: string) => {
          if (failed) return;
          failed = true;
          this.inbound.delete(call);
          callback({ code, details }, null);
        };
        call.on('data', (req: SendSnapshotRequest) => {
          if (failed) return;
          if (!header) {
            if (!req.message || !req.metadata)
              return fail(grpc.status.INVALID_ARGUMENT, 'first chunk lacks the header');
            if (req.totalBytes > this.maxSnapshot) {
              return fail(grpc.status.RESOURCE_EXHAUSTED, `snapshot of ${req.totalBytes} bytes is too large`);
            }
            header = req;
            buf = Buffer.allocUnsafe(req.totalBytes);
          }
          if (req.offset !== received || received + req.data.length > header.totalBytes) {
            return fail(grpc.status.INVALID_ARGUMENT, `chunk at ${req.offset} does not follow ${received}`);
          }
          req.data.copy(buf as Buffer, received);
          received += req.data.length;
        });
        call.on('end', () => {
          if (failed) return;
          this.inbound.delete(call);
          if (!header || !buf || received !== header.totalBytes) {
            return fail(grpc.status.INVALID_ARGUMENT, `snapshot incomplete: ${received} bytes`);
          }
          let m: Message;
          try {
            m = messageFromWire(header.message!);
          } catch (err) {
            return fail(grpc.status.INVALID_ARGUMENT, (err as Error).message);
          }
          m.snapshot = { metadata: metadataFromWire(header.metadata!), data: buf };
          this.opts.handlers.onMessage(m);
          callback(null, { receivedBytes: received });
        });
        call.on('error', () => this.inbound.delete(call));
      },
    };
  }

  /** Tells the handlers a caller's announced address; returns its member id when the metadata names one. */
  private notePeer(md: grpc.Metadata): NodeId | undefined {
    const id = Number(md.get(FROM_KEY)[0]);
    if (!Number.isSafeInteger(id) || id <= 0) return undefined;
    const addr = md.get(ADDR_KEY)[0];
    if (typeof addr === 'string' && addr.length > 0) this.opts.handlers.onPeerAddress?.(id, addr);
    return id;
  }
}
