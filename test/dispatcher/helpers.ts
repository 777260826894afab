// What the dispatcher ⇄ agent session tests share: a node identity signed by the test's root, and a poll.
import { createNodeKeyAndCSR, type RootCA, signNodeCSR } from '../../manager/ca/certs.js';
import type { TlsIdentity } from '../../manager/ca/tls.js';

/** A key and a certificate for `nodeId` in `role`, signed by `root` for `clusterId`. */
export async function identity(
  root: RootCA,
  clusterId: string,
  nodeId: string,
  role: 'manager' | 'worker',
): Promise<TlsIdentity> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCSR(root, {
    csrPem,
    nodeId,
    role,
    clusterId,
    addresses: ['127.0.0.1'],
    now: new Date(),
  });
  return { keyPem, certPem, rootCertPem: root.certPem };
}

/** Polls `fn` every 20 ms until it gives a value, or throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
