// Client for raftnode's KV service: follows the leader hint on FAILED_PRECONDITION, so callers can point
// it at any member. Used by the raft integration tests and the benchmark.
import * as grpc from '@grpc/grpc-js';
import { KvServiceClient } from '../../../proto/gen/shoal/raft/kv/v1/kv.js';

export class KvError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly leaderAddress?: string,
  ) {
    super(`${grpc.status[code]}: ${details}`);
    this.name = 'KvError';
  }
}

function asKvError(err: grpc.ServiceError): KvError {
  const leader = err.metadata?.get('x-leader-address')[0];
  return new KvError(err.code, err.details, typeof leader === 'string' ? leader : undefined);
}

/** One connection to one member. */
export class KvConn {
  readonly client: KvServiceClient;
  constructor(
    readonly address: string,
    opts: Record<string, unknown> = {},
  ) {
    this.client = new KvServiceClient(address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      ...opts,
    });
  }

  put(key: string, value: Uint8Array, deadlineMs = 5000): Promise<number> {
    return new Promise((resolve, reject) => {
      this.client.put(
        { key, value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) },
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(asKvError(err)) : resolve(res.index)),
      );
    });
  }

  get(key: string, linearizable = true, deadlineMs = 5000): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
      this.client.get(
        { key, serializable: !linearizable },
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(asKvError(err)) : resolve(res.found ? res.value : undefined)),
      );
    });
  }

  status(
    deadlineMs = 2000,
  ): Promise<Record<string, unknown> & { leader: number; role: string; applied: number }> {
    return new Promise((resolve, reject) => {
      this.client.status({}, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(asKvError(err)) : resolve(JSON.parse(res.json)),
      );
    });
  }

  member(
    op: 'add-learner' | 'promote' | 'remove',
    id: number,
    address = '',
    deadlineMs = 40_000,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.client.member(
        { op, id, address },
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(asKvError(err)) : resolve(JSON.parse(res.json))),
      );
    });
  }

  transfer(to: number, deadlineMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      this.client.transfer({ to }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(asKvError(err)) : resolve(res.leader),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** A client over several members that sends writes and reads to whoever leads, retrying only on "not leader". */
export class KvClient {
  private readonly conns = new Map<string, KvConn>();
  private current: string;

  constructor(
    addresses: string[],
    private readonly retryPauseMs = 50,
  ) {
    if (addresses.length === 0) throw new Error('KvClient: at least one address is needed');
    this.current = addresses[0];
    for (const a of addresses) this.conns.set(a, new KvConn(a));
  }

  private conn(addr: string): KvConn {
    let c = this.conns.get(addr);
    if (!c) {
      c = new KvConn(addr);
      this.conns.set(addr, c);
    }
    return c;
  }

  /** Runs `op` against the leader, following up to `hops` redirects. Other errors are returned as is. */
  private async viaLeader<T>(op: (c: KvConn) => Promise<T>, hops = 4): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await op(this.conn(this.current));
      } catch (err) {
        if (!(err instanceof KvError) || i >= hops) throw err;
        if (err.code === grpc.status.FAILED_PRECONDITION && err.leaderAddress)
          this.current = err.leaderAddress;
        else if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.FAILED_PRECONDITION) {
          // No leader known (an election is running) or this member is down: try another after a pause.
          this.rotate();
          await new Promise((r) => setTimeout(r, this.retryPauseMs));
        } else throw err;
      }
    }
  }

  private rotate(): void {
    const all = [...this.conns.keys()];
    this.current = all[(all.indexOf(this.current) + 1) % all.length];
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.viaLeader((c) => c.put(key, value));
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.viaLeader((c) => c.get(key, true));
  }

  member(op: 'add-learner' | 'promote' | 'remove', id: number, address = ''): Promise<unknown> {
    return this.viaLeader((c) => c.member(op, id, address), 40);
  }

  leaderAddress(): string {
    return this.current;
  }

  close(): void {
    for (const c of this.conns.values()) c.close();
  }
}
