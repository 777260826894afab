// Leader-only components follow the log's leadership: started once this member leads and has applied
// everything committed before (a read barrier: the new leader's store is caught up, as swarmkit waits for
// before becoming leader), stopped the moment it does not.
import { barrierWhileLeading, type ReplicatedLog } from '../raft/replicated.js';

export interface LeaderComponent {
  start(): void;
  stop(): void;
}

/** Runs `component` while `log` says this member leads. The returned function unsubscribes and stops it. */
export function runWhileLeader(
  log: Pick<ReplicatedLog, 'leadership' | 'onLeadershipChange' | 'readBarrier'>,
  component: LeaderComponent,
  onError: (err: unknown) => void = () => {},
): () => void {
  let term: number | undefined; // the term the component was (or is being) started for
  const follow = (e: { isLeader: boolean; term: number }) => {
    if (!e.isLeader || (term !== undefined && term !== e.term)) {
      term = undefined;
      component.stop();
    }
    if (!e.isLeader || term === e.term) return;
    const t = e.term;
    term = t;
    void barrierWhileLeading(log, t, { onError, cancelled: () => term !== t }).then((leads) => {
      if (leads && term === t) component.start();
    });
  };
  const off = log.onLeadershipChange(follow);
  follow(log.leadership());
  return () => {
    off();
    term = undefined;
    component.stop();
  };
}
