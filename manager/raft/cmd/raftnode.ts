// raftnode: one raft member with a key-value state machine in its own process, for the raft integration
// tests and the raft benchmark. Raft traffic and the small KV client API share one gRPC port.
//
//   raftnode --id 1 --listen 127.0.0.1:7001 --data /var/tmp/n1 \
//            --bootstrap 1=127.0.0.1:7001,2=127.0.0.2:7002,3=127.0.0.3:7003
//   raftnode --id 4 --listen 127.0.0.4:7004 --data /var/tmp/n4 --join
//
// Optional: --tick-ms 50 --election-ticks 8 --heartbeat-ticks 1 --snapshot-every 10000 --keep-entries 500
//           --segment-bytes N.  Prints one line "raftnode <id> listening on <addr>" to stdout when ready;
// diagnostics go to stderr. Exits 2 on bad flags, 1 on a startup failure (e.g. a corrupt WAL).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  type KvServiceServer,
  KvServiceService,
  type MemberResponse,
} from '../../../proto/gen/shoal/raft/kv/v1/kv.js';
import { InvalidArgumentError, NodeStoppedError, NotLeaderError, RaftTimeoutError } from '../node/errors.js';
import { RaftNode } from '../node/node.js';
import { disableNagleOnServer } from '../transport/nodelay.js';
import { StorageError } from '../wal/errors.js';
import { encodePut, KvStateMachine } from './kv.js';
import { PauseMonitor } from './pauses.js';

export interface RaftNodeFlags {
  id: number;
  listen: string;
  data: string;
  bootstrap: { id: number; address: string }[];
  join: boolean;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEvery: number;
  keepEntries: number;
  segmentBytes: number | undefined;
}

export class FlagError extends Error {}

export function parseFlags(argv: string[]): RaftNodeFlags {
  const f: RaftNodeFlags = {
    id: 0,
    listen: '',
    data: '',
    bootstrap: [],
    join: false,
    tickMs: 50,
    electionTicks: 8,
    heartbeatTicks: 1,
    snapshotEvery: 10_000,
    keepEntries: 500,
    segmentBytes: undefined,
  };
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n <= 0) {
      throw new FlagError(`--${name}: expected a positive integer, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--id':
        f.id = int('id', v);
        i++;
        break;
      case '--listen':
        if (!v || !/^[^\s:]+:\d{1,5}$/.test(v))
          throw new FlagError(`--listen: expected host:port, got ${JSON.stringify(v)}`);
        f.listen = v;
        i++;
        break;
      case '--data':
        if (!v) throw new FlagError('--data: expected a directory');
        f.data = v;
        i++;
        break;
      case '--bootstrap':
        if (!v) throw new FlagError('--bootstrap: expected id=host:port,...');
        f.bootstrap = v.split(',').map((p) => {
          const m = /^(\d+)=([^\s:]+:\d{1,5})$/.exec(p);
          if (!m) throw new FlagError(`--bootstrap: bad member ${JSON.stringify(p)} (expected id=host:port)`);
          return { id: Number(m[1]), address: m[2] };
        });
        i++;
        break;
      case '--join':
        f.join = true;
        break;
      case '--tick-ms':
        f.tickMs = int('tick-ms', v);
        i++;
        break;
      case '--election-ticks':
        f.electionTicks = int('election-ticks', v);
        i++;
        break;
      case '--heartbeat-ticks':
        f.heartbeatTicks = int('heartbeat-ticks', v);
        i++;
        break;
      case '--snapshot-every':
        f.snapshotEvery = int('snapshot-every', v);
        i++;
        break;
      case '--keep-entries':
        f.keepEntries = Number(v);
        if (!Number.isSafeInteger(f.keepEntries) || f.keepEntries < 0) {
          throw new FlagError(`--keep-entries: expected a non-negative integer, got ${JSON.stringify(v)}`);
        }
        i++;
        break;
      case '--segment-bytes':
        f.segmentBytes = int('segment-bytes', v);
        i++;
        break;
      default:
        throw new FlagError(`unknown flag ${JSON.stringify(a)}`);
    }
  }
  if (!f.id) throw new FlagError('--id is required');
  if (!f.listen) throw new FlagError('--listen is required');
  if (!f.data) throw new FlagError('--data is required');
  if (f.join && f.bootstrap.length > 0) throw new FlagError('--join and --bootstrap are mutually exclusive');
  return f;
}

/** Maps node errors onto gRPC status codes the client understands. */
function toGrpcError(err: unknown): grpc.ServiceError {
  const e = err as Error;
  const md = new grpc.Metadata();
  let code = grpc.status.INTERNAL;
  if (err instanceof NotLeaderError) {
    code = grpc.status.FAILED_PRECONDITION;
    md.set('x-leader-id', String(err.leaderId));
    if (err.leaderAddress) md.set('x-leader-address', err.leaderAddress);
  } else if (err instanceof InvalidArgumentError) code = grpc.status.INVALID_ARGUMENT;
  else if (err instanceof StorageError || err instanceof NodeStoppedError) code = grpc.status.UNAVAILABLE;
  else if (err instanceof RaftTimeoutError) code = grpc.status.DEADLINE_EXCEEDED;
  else if (e?.name === 'ProposalDroppedError' || e?.name === 'ProposalOutcomeUnknownError')
    code = grpc.status.ABORTED;
  return Object.assign(new Error(e?.message ?? String(err)), {
    code,
    details: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`,
    metadata: md,
  });
}

function kvService(node: RaftNode<void>, kv: KvStateMachine, pauses: PauseMonitor): KvServiceServer {
  return {
    put: (call, cb) => {
      const { key, value } = call.request;
      if (!key || Buffer.byteLength(key) > 1024) {
        cb(toGrpcError(new InvalidArgumentError('key', 'must be 1 to 1024 bytes')), null);
        return;
      }
      node.propose(encodePut(key, value)).then(
        (r) => cb(null, { index: r.index }),
        (err) => cb(toGrpcError(err), null),
      );
    },
    get: (call, cb) => {
      const { key, serializable } = call.request;
      const read = () => {
        const v = kv.get(key);
        cb(null, {
          found: v !== undefined,
          value: v ? Buffer.from(v) : Buffer.alloc(0),
          applied: node.appliedIndex,
        });
      };
      if (serializable) read();
      else node.readIndex().then(read, (err) => cb(toGrpcError(err), null));
    },
    status: (_call, cb) => {
      cb(null, {
        json: JSON.stringify({
          ...node.status(),
          keys: kv.map.size,
          removed: node.isRemoved,
          process: pauses.stats(),
        }),
      });
    },
    member: (call, cb) => {
      const { op, id, address } = call.request;
      let p: Promise<void>;
      if (op === 'add-learner') p = node.addLearner(id, address);
      else if (op === 'promote') p = node.promote(id);
      else if (op === 'remove') p = node.removeMember(id);
      else p = Promise.reject(new InvalidArgumentError('op', `unknown operation ${JSON.stringify(op)}`));
      p.then(
        () => cb(null, { json: JSON.stringify(node.status().members) } satisfies MemberResponse),
        (err) => cb(toGrpcError(err), null),
      );
    },
    transfer: (call, cb) => {
      node.transferLeadership(call.request.to).then(
        () => cb(null, { leader: node.leader }),
        (err) => cb(toGrpcError(err), null),
      );
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  let flags: RaftNodeFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`raftnode: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = (msg: string) => process.stderr.write(`[${new Date().toISOString()}] n${flags.id} ${msg}\n`);
  const kv = new KvStateMachine();
  let node: RaftNode<void>;
  try {
    node = RaftNode.start<void>({
      id: flags.id,
      dataDir: flags.data,
      advertiseAddress: flags.listen,
      bootstrap: flags.bootstrap.length > 0 ? flags.bootstrap : undefined,
      join: flags.join,
      stateMachine: kv,
      credentials: grpc.credentials.createInsecure(),
      tickMs: flags.tickMs,
      electionTicks: flags.electionTicks,
      heartbeatTicks: flags.heartbeatTicks,
      snapshotEvery: flags.snapshotEvery,
      keepEntries: flags.keepEntries,
      segmentBytes: flags.segmentBytes,
      log,
    });
  } catch (err) {
    process.stderr.write(`raftnode: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  node.on('leaderChange', (leader: number, term: number) => log(`leader is now ${leader} (term ${term})`));
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const rs = node.raftService();
  server.addService(rs.definition, rs.implementation);
  const pauses = new PauseMonitor().start();
  server.addService(KvServiceService, kvService(node, kv, pauses));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(flags.listen, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  ).catch((err) => {
    process.stderr.write(`raftnode: cannot listen on ${flags.listen}: ${(err as Error).message}\n`);
    process.exit(1);
  });
  disableNagleOnServer(server);
  process.stdout.write(`raftnode ${flags.id} listening on ${flags.listen}\n`);
  const shutdown = () => {
    node.stop();
    pauses.stop();
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main(process.argv.slice(2));
}
