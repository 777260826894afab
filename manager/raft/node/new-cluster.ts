// A forced new cluster (`swarm init --force-new-cluster`, etcd's --force-new-cluster): a surviving member's
// applied state becomes the snapshot of a fresh raft directory whose only voter is this member, so it elects
// itself and goes on with the data while the members it lost are gone from the configuration. Entries it had
// not applied (never committed as far as it knows) are dropped: a majority never acknowledged them to it.
import type { NodeId } from '../core/types.js';
import { DiskStorage } from '../wal/disk-storage.js';
import { encodeMeta, encodeNodeSnapshot } from './snapshot-codec.js';

export interface ExportedState {
  /** The applied index and the term of that entry. */
  index: number;
  term: number;
  /** The state machine's snapshot at `index`. */
  data: Uint8Array;
}

/** Writes a raft directory at `dir` (which must not hold raft state) that starts as a one-voter cluster. */
export function seedNewCluster(
  dir: string,
  self: { id: NodeId; address: string },
  state: ExportedState,
  opts: { fsync?: boolean } = {},
): void {
  const disk = DiskStorage.open(dir, {
    meta: encodeMeta({ id: self.id, peers: [[self.id, self.address]] }),
    fsync: opts.fsync,
  });
  try {
    if (disk.restored) throw new Error(`${dir} already holds raft state`);
    const index = Math.max(state.index, 1);
    const term = Math.max(state.term, 1);
    disk.persist(
      { term, vote: 0, commit: index },
      [],
      {
        metadata: { index, term, confState: { voters: [self.id], learners: [] } },
        data: encodeNodeSnapshot(new Map([[self.id, self.address]]), state.data),
      },
      true,
    );
  } finally {
    disk.close();
  }
}
