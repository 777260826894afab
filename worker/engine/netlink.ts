// The kernel networking calls worker/network needs (namespaces, rtnetlink, nftables), as a small typed
// facade over native.ts (which alone loads the addon). Failures are NetlinkErrors: ShoalErrors whose kind follows the errno
// (EEXIST → conflict, ENODEV/ENOENT → not_found, EINVAL → invalid_argument, else internal).
import {
  type LinkInfo,
  linkGet,
  NetlinkError,
  type NetOp,
  netlink,
  netnsCreate,
  netnsDelete,
  nftApply,
} from './native.js';

export type { LinkInfo, NetOp };
export { NetlinkError };

export const kernelNet = {
  /** A named network namespace file at `path` (lo up); nothing is left if it fails. */
  createNetns: netnsCreate,
  /** Removes a namespace file; a missing one is fine (idempotent cleanup). */
  async deleteNetns(path: string): Promise<void> {
    await netnsDelete(path).catch(ignoreMissing);
  },
  /** rtnetlink requests in order, one thread-pool round trip; stops at the first failure. */
  apply: netlink,
  /** A link by name in `netns` (default: the daemon's namespace), or null. */
  link: (name: string, netns?: string): Promise<LinkInfo | null> => linkGet(name, netns),
  /**
   * An nftables script in nft's syntax, applied in the daemon's namespace as one transaction through
   * libnftables (a refusal is a NetlinkError of kind internal, errnoCode ENFT, with nft's message).
   */
  nft: nftApply,
  /** Deletes a link if it exists. */
  async deleteLink(name: string, netns?: string): Promise<void> {
    await netlink([{ op: 'link-del', name, ...(netns ? { netns } : {}) }]).catch(ignoreMissing);
  },
};

/** Swallows "no such link / file" (for cleanups that may run twice); rethrows anything else. */
export function ignoreMissing(e: unknown): void {
  if (e instanceof NetlinkError && (e.errnoCode === 'ENODEV' || e.errnoCode === 'ENOENT')) return;
  throw e;
}
