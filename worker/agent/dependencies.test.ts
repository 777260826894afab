// The worker's secrets and configs: held in memory as the assignment messages say (COMPLETE replaces,
// INCREMENTAL updates and removes), read by the executor, waited for (bounded) when not there yet.
import { describe, expect, it } from 'vitest';
import {
  AssignmentAction,
  type AssignmentChange,
  AssignmentsType,
} from '../../proto/gen/shoal/dispatcher/v1/dispatcher.js';
import { Config, Secret } from '../../proto/gen/shoal/swarm/v1/objects.js';
import { Dependencies } from './dependencies.js';

const secret = (
  id: string,
  data: string,
  action = AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
): AssignmentChange => ({
  assignment: {
    item: { $case: 'secret', value: Secret.fromPartial({ id, spec: { data: Buffer.from(data) } }) },
  },
  action,
});
const config = (id: string, data: string): AssignmentChange => ({
  assignment: {
    item: { $case: 'config', value: Config.fromPartial({ id, spec: { data: Buffer.from(data) } }) },
  },
  action: AssignmentAction.ASSIGNMENT_ACTION_UPDATE,
});
const msg = (type: AssignmentsType, changes: AssignmentChange[]) => ({
  type,
  appliesTo: '',
  resultsIn: '',
  changes,
});

describe("Dependencies: a worker's secrets and configs, in memory", () => {
  it('COMPLETE replaces the set, INCREMENTAL updates and removes', async () => {
    const deps = new Dependencies();
    deps.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE, [secret('s1', 'pw'), config('c1', 'k: v')]));
    expect((await deps.data('secret', 's1')).toString()).toBe('pw');
    expect((await deps.data('config', 'c1')).toString()).toBe('k: v');
    expect(deps.has('config', 's1')).toBe(false); // kinds are apart
    deps.apply(
      msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [
        secret('s1', '', AssignmentAction.ASSIGNMENT_ACTION_REMOVE),
      ]),
    );
    expect(deps.keys()).toEqual(['config/c1']);
    deps.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_COMPLETE, [secret('s2', 'x')]));
    expect(deps.keys()).toEqual(['secret/s2']);
  });

  it('a reader waits for what has not arrived, and gives up naming it', async () => {
    const deps = new Dependencies();
    const waiting = deps.data('secret', 's1', undefined, 5_000);
    deps.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [config('other', 'x')]));
    deps.apply(msg(AssignmentsType.ASSIGNMENTS_TYPE_INCREMENTAL, [secret('s1', 'late')]));
    expect((await waiting).toString()).toBe('late');
    await expect(deps.data('secret', 'never', undefined, 30)).rejects.toThrow(
      'secret never is not available on this node (not received from a manager)',
    );
    const abort = new AbortController();
    const aborted = deps.data('config', 'c9', abort.signal, 5_000);
    abort.abort();
    await expect(aborted).rejects.toThrow(/config c9 is not available/);
  });
});
