// A manager that cannot serve a call because it does not lead names the leader's gRPC address in this
// trailing-metadata key, so the caller (a joining manager, an agent) goes there next instead of trying
// every manager in turn.
export const LEADER_HINT_KEY = 'x-shoal-leader';
