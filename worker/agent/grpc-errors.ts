// How the agent reads a dispatcher's gRPC failure (the manager maps ShoalError kinds to these codes).
import * as grpc from '@grpc/grpc-js';

const codeOf = (err: unknown): number | undefined =>
  typeof (err as { code?: unknown })?.code === 'number' ? (err as { code: number }).code : undefined;

/** The dispatcher will never take this request as it is: retrying it unchanged cannot help. */
export function isPermanentRefusal(err: unknown): boolean {
  const code = codeOf(err);
  return code === grpc.status.PERMISSION_DENIED || code === grpc.status.INVALID_ARGUMENT;
}
