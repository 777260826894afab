// The one timing both ends of a worker's session depend on: how long a worker may wait between two attempts
// to open a session. The agent (worker/agent) never waits longer; the dispatcher (manager/dispatcher) gives
// every node at least this, plus a heartbeat deadline, to come back after it starts serving, so a worker
// that was retrying a dead manager is not marked down (and its tasks moved) once that manager returns.
export const SESSION_RETRY_MAX_MS = 8000;
