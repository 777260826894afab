// RaftMembership's gRPC face (proto/shoal/membership/v1): the caller is its certificate's node; a member
// that does not lead answers FAILED_PRECONDITION with the leader's address in the "x-shoal-leader" trailer,
// and `joinThroughLeader` (the joining side) follows it.
import * as grpc from '@grpc/grpc-js';
import { ShoalError } from '../../common/errors.js';
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
import { joinRaft, NotLeaderHere, type RaftGroup } from './join.js';

export const MEMBERSHIP_POLICY: MethodPolicy = {
  [RaftMembershipService.join.path]: ['manager'],
};

const LEADER_KEY = 'x-shoal-leader';

export function membershipService(
  store: Store,
  raft: RaftGroup,
): { definition: typeof RaftMembershipService; implementation: RaftMembershipServer } {
  const implementation: RaftMembershipServer = {
    join: (call, callback) => {
      const nodeId = peerIdentity(call as Parameters<typeof peerIdentity>[0])?.nodeId;
      if (!nodeId)
        return callback(
          toServiceError(new ShoalError('unauthenticated', 'joining needs a node certificate')),
        );
      joinRaft(store, raft, { nodeId, raftId: call.request.raftId, addr: call.request.addr }).then(
        (r) =>
          callback(null, {
            leaderRaftId: r.leaderId,
            members: r.members.map((m) => ({ raftId: m.id, addr: m.address, voter: m.voter })),
          }),
        (err) => {
          const e = toServiceError(err);
          if (err instanceof NotLeaderHere && err.leaderAddr) {
            const md = new grpc.Metadata();
            md.set(LEADER_KEY, err.leaderAddr);
            e.metadata = md;
          }
          callback(e);
        },
      );
    },
  };
  return { definition: RaftMembershipService, implementation };
}

/**
 * The joining side: asks `address` to add this member, following the leader hint (a few hops at most, as a
 * leader may change meanwhile). Resolves with the leader's answer.
 */
export async function joinThroughLeader(
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions,
  req: { raftId: number; addr: string },
  timeoutMs = 30_000,
): Promise<JoinResponse> {
  const deadline = Date.now() + timeoutMs;
  let target = address;
  for (let hop = 0; ; hop++) {
    const client = new RaftMembershipClient(target, credentials, channelOptions);
    try {
      return await new Promise<JoinResponse>((resolve, reject) => {
        client.join(req, new grpc.Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    } catch (e) {
      const err = e as grpc.ServiceError;
      const leader = err.metadata?.get(LEADER_KEY)[0];
      const retry = err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.UNAVAILABLE;
      if (!retry || hop >= 20 || Date.now() >= deadline)
        throw new ShoalError(kindOfCode(err.code), `joining the managers through ${target}: ${err.details}`);
      // No leader known yet (an election): wait a little and ask again.
      if (typeof leader === 'string' && leader) target = leader;
      else await new Promise((r) => setTimeout(r, 250));
    } finally {
      client.close();
    }
  }
}
