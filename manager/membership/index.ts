// Public face of the raft membership of managers: joining (learner) and the leader's reconciler
// (promotion once caught up, ManagerStatus in the store).
export {
  forgetManager,
  joinRaft,
  leaveRaft,
  NotLeaderHere,
  quorumLossMessage,
  type RaftGroup,
  type RaftMember,
  rememberRemoved,
  removedRaftIds,
  retryConflicts,
} from './join.js';
export {
  type GroupView,
  type MembershipPlan,
  type MembershipRaft,
  MembershipReconciler,
  type MemberView,
  planMembership,
  planRoles,
  type RoleStep,
} from './reconcile.js';
export { joinThroughLeader, leaveThroughLeader, MEMBERSHIP_POLICY, membershipService } from './service.js';
