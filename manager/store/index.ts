// Public face of the replicated state store.
export type { ApplyResult } from './apply.js';
export { DEFAULT_TASK_HISTORY_RETENTION_LIMIT, defaultClusterSpec } from './defaults.js';
export type { ChangeKind, EventOf, StoreEvent, WatchFilter } from './events.js';
export { type ApplyMode, MemLogError, MemoryLog } from './memlog.js';
export {
  NO_LEADER_MESSAGE,
  newObjectId,
  SNAPSHOT_FORMAT_VERSION,
  Store,
  type StoreOptions,
  type UpdateResult,
} from './store.js';
export {
  clone,
  type Indexes,
  type Objects,
  type StoredObject,
  slotKey,
  TABLE_NAMES,
  type TableName,
} from './tables.js';
export type { ReadTx, WriteTx } from './tx.js';
export { Watch } from './watch.js';
