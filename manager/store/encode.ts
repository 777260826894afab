// A transaction's log entry, written from objects already encoded: the write transaction encodes each object
// once when it takes its private copy (tx.ts; an update only its changed fields), and the entry is those bytes
// framed as StoreActions, so no object is encoded twice on its way to the log. For whole objects the bytes are
// exactly Transaction.encode's (encode.test.ts).
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { StoreActionKind } from '../../proto/gen/shoal/swarm/v1/store.js';
import type { TableName } from './tables.js';

export interface EncodedAction {
  kind: StoreActionKind;
  table: TableName;
  /** The object's own encoding (the StoreAction's target field's content). */
  bytes: Uint8Array;
  /** A patch's field names (StoreAction.fields). */
  fields?: readonly string[];
}

/** StoreAction's target field number per table (store.proto). */
const TARGET_FIELD: Record<TableName, number> = {
  cluster: 2,
  node: 3,
  service: 4,
  task: 5,
  network: 6,
  secret: 7,
  config: 8,
};

const LENGTH_DELIMITED = 2;

export function encodeTransaction(actions: readonly EncodedAction[], timestamp: number): Uint8Array {
  const w = new BinaryWriter();
  for (const a of actions) {
    w.uint32((1 << 3) | LENGTH_DELIMITED).fork(); // Transaction.actions
    if (a.kind !== 0) w.uint32(1 << 3).int32(a.kind); // StoreAction.kind
    w.uint32((TARGET_FIELD[a.table] << 3) | LENGTH_DELIMITED).bytes(a.bytes);
    for (const f of a.fields ?? []) w.uint32((9 << 3) | LENGTH_DELIMITED).string(f); // StoreAction.fields
    w.join();
  }
  if (timestamp !== 0) w.uint32(2 << 3).int64(timestamp); // Transaction.timestamp
  return w.finish();
}
