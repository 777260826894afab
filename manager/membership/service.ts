// RaftMembership's gRPC face (proto/shoal/membership/v1): the caller is its certificate's node; a member
// that does not lead answers FAILED_PRECONDITION with the leader's address in the "x-shoal-leader" trailer,
// and `joinThroughLeader` (the joining side) follows it.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
import { LEADER_HINT_KEY } from '../../common/leader-hint.js';
import {
  type JoinResponse,
  RaftMembershipClient,
  type RaftMembershipServer,
  RaftMembershipService,
} from '../../proto/gen/shoal/membership/v1/membership.js';
import type { MethodPolicy } from '../ca/authz.js';
import { kindOfCode, toServiceError } from '../ca/service.js';
import { peerIdentity } from '../ca/tls.js';
import type { Store } from '../store/index.js';
import { joinRaft, leaveRaft, NotLeaderHere, type RaftGroup } from './join.js';

export const MEMBERSHIP_POLICY: MethodPolicy = {
  [RaftMembershipService.join.path]: ['manager'],
  [RaftMembershipService.leave.path]: ['manager'],
};

const callerOf = (call: unknown) => peerIdentity(call as Parameters<typeof peerIdentity>[0])?.nodeId;
const noCertificate = () =>
  toServiceError(new ShoalError('unauthenticated', 'this call needs a node certificate'));

function withLeaderHint(err: unknown): Partial<grpc.ServiceError> {
  const e = toServiceError(err);
  if (err instanceof NotLeaderHere && err.leaderAddr) {
    const md = new grpc.Metadata();
    md.set(LEADER_HINT_KEY, err.leaderAddr);
    e.metadata = md;
  }
  return e;
}

export function membershipService(
  store: Store,
  raft: RaftGroup,
): { definition: typeof RaftMembershipService; implementation: RaftMembershipServer } {
  const implementation: RaftMembershipServer = {
    join: (call, callback) => {
      const nodeId = callerOf(call);
      if (!nodeId) return callback(noCertificate());
      joinRaft(store, raft, { nodeId, raftId: call.request.raftId, addr: call.request.addr }).then(
        (r) =>
          callback(null, {
            leaderRaftId: r.leaderId,
            members: r.members.map((m) => ({ raftId: m.id, addr: m.address, voter: m.voter })),
          }),
        (err) => callback(withLeaderHint(err)),
      );
    },
    leave: (call, callback) => {
      const nodeId = callerOf(call);
      if (!nodeId) return callback(noCertificate());
      leaveRaft(store, raft, { nodeId, force: call.request.force }).then(
        () => callback(null, {}),
        (err) => callback(withLeaderHint(err)),
      );
    },
  };
  return { definition: RaftMembershipService, implementation };
}

/**
 * Calls the leader through `address`: a member that does not lead answers UNAVAILABLE, naming the leader when
 * it knows it; the call follows that hint (a few hops at most, as leadership may move meanwhile) or, during an
 * election, asks again a little later. Any other failure ends it.
 */
async function throughLeader<Res>(
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  what: string,
  timeoutMs: number,
  call: (
    client: RaftMembershipClient,
    deadline: number,
    done: (err: grpc.ServiceError | null, res?: Res) => void,
  ) => void,
): Promise<Res> {
  const deadline = Date.now() + timeoutMs;
  let target = address;
  for (let hop = 0; ; hop++) {
    const client = new RaftMembershipClient(target, credentials, channelOptions);
    try {
      return await new Promise<Res>((resolve, reject) => {
        call(client, deadline, (err, res) => (err ? reject(err) : resolve(res as Res)));
      });
    } catch (e) {
      const err = e as grpc.ServiceError;
      const leader = err.metadata?.get(LEADER_HINT_KEY)[0];
      if (err.code !== grpc.status.UNAVAILABLE || hop >= 20 || Date.now() >= deadline)
        throw new ShoalError(kindOfCode(err.code), `${what} through ${target}: ${err.details}`);
      if (typeof leader === 'string' && leader) target = leader;
      else await new Promise((r) => setTimeout(r, 250));
    } finally {
      client.close();
    }
  }
}

/** The joining side: asks the leader (through `address`) to add this member as a learner. */
export function joinThroughLeader(
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  req: { raftId: number; addr: string },
  timeoutMs = 30_000,
): Promise<JoinResponse> {
  return throughLeader(
    address,
    credentials,
    channelOptions,
    'joining the managers',
    timeoutMs,
    (c, deadline, done) => c.join(req, new grpc.Metadata(), { deadline }, done),
  );
}

/** The leaving side: asks the leader (through `address`) to remove this manager from the raft group. */
export async function leaveThroughLeader(
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  force: boolean,
  timeoutMs = 10_000,
): Promise<void> {
  await throughLeader(
    address,
    credentials,
    channelOptions,
    'leaving the managers',
    timeoutMs,
    (c, deadline, done) => c.leave({ force }, new grpc.Metadata(), { deadline }, done),
  );
}
