// The one timing both ends of a worker's session depend on: how long a worker may wait between two passes
// over its manager list (within a pass it tries the next manager after ~100 ms). The agent (worker/agent)
// never waits longer; the dispatcher (manager/dispatcher) gives every node at least this, plus a heartbeat
// deadline, to come back after it starts serving, so a worker that was retrying dead managers is not marked
// down (and its tasks moved) once one of them leads.
export const SESSION_RETRY_MAX_MS = 8000;
