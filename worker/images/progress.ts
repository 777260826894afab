// Progress messages in the shape of docker's JSON message stream (what /images/create and
// /images/{name}/push send, one JSON object per line).
export interface ProgressEvent {
  status: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
}

export type ProgressSink = (e: ProgressEvent) => void;

export const noProgress: ProgressSink = () => {};

/** Runs tasks with at most `limit` in flight; rejects with the first error after all settled. */
export async function parallel<T, R>(
  items: T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < items.length && firstError === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (e) {
        if (firstError === undefined) firstError = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstError !== undefined) throw firstError;
  return out;
}
