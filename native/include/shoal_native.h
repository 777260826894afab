// shoal_native.node — every entry point of the addon, as seen from JavaScript. The TypeScript
// declaration of the same calls lives in worker/engine/native.ts; the contract with the
// runtime executable is native/PROTOCOL.md.
//
// All calls that may block run as napi async work on the libuv thread pool and return a
// Promise; nothing here ever forks the Node process into a container: containers are made by
// the `shoal-runtime` executable (posix_spawn'ed), whose monitor outlives shoald.
//
//   create(args: string[]): Promise<void>
//       Spawns `shoal-runtime ...args` (args start with global flags and the `create` verb),
//       waits for it and resolves when it exited 0. Rejects with an Error whose message is the
//       runtime's stderr line (e.g. `shoal-runtime: exec "nope": executable file not found in $PATH`)
//       and whose `exitCode` property is the runtime's exit status.
//
//   runtime(args: string[]): Promise<{ code: number, stdout: string, stderr: string }>
//       Spawns `shoal-runtime ...args` for any verb (state, kill, delete, pause, events …) and
//       resolves with its exit status and output; never rejects for a non-zero exit.
//
//   Both spawn the runtime from one sealed memfd copy per process (made on first use, again when
//   the file changes) with _SHOAL_RUNTIME_PATH naming the file, so that containers are entered
//   from a copy nobody can write (CVE-2019-5736; PROTOCOL.md "Host binaries and containers").
//
//   probe(): { cgroup: "v1" | "v2" | "hybrid", seccomp: boolean, overlay: boolean }
//       What this machine supports (statfs of /sys/fs/cgroup, /proc/filesystems, seccomp).
//       Cheap and non-blocking (a few reads of procfs/sysfs), hence synchronous.
//
//   runtimePath(): string
//       The shoal-runtime executable the calls above spawn: next to this addon unless
//       setRuntimePath() chose another.
//
//   setRuntimePath(path: string): void
//
//   releaseMemory(): boolean
//       V8's low-memory notification (full compacting collections that release emptied pages), then
//       glibc's malloc_trim(0) (every arena's free pages back to the kernel); true when the trim
//       released some. Synchronous, tens of ms for a daemon's heap: the daemon calls it once after a
//       busy spell, when its event loop has gone quiet.
//
//   applyFileOps(ops: FileOp[]): Promise<void>
//       The file operations Node's fs lacks, for the image store's layer unpacker (device nodes,
//       FIFOs, overlay whiteouts as 0/0 char devices, xattrs). The whole list runs in order as ONE
//       async work item (one thread-pool round trip per layer); the first failure stops it.
//         { op: "mknod",     path, mode, major?, minor? }  mode = S_IFCHR|S_IFBLK|S_IFIFO | perms
//                                                          (the umask applies: follow with chmod)
//         { op: "lchown",    path, uid, gid }              does not follow a final symlink
//         { op: "chmod",     path, mode }                  mode <= 07777; follows symlinks
//         { op: "lutimes",   path, atime, mtime }          seconds (fractions kept to the ns);
//                                                          does not follow a final symlink
//         { op: "lsetxattr", path, name, value: Buffer }   does not follow a final symlink
//         { op: "mountTmpfs", path, size, mode }           a tmpfs on the directory `path`: nosuid,
//                                                          nodev,noexec, size bytes (> 0), mode <= 07777
//                                                          (the engine's per-container secret files)
//         { op: "umount", path }                           umount2(MNT_DETACH | UMOUNT_NOFOLLOW)
//         { op: "mkdir", path, mode }                      an existing directory is fine (the umask applies)
//         { op: "writeFile", path, value: Buffer, mode }   created or truncated, all of value written;
//                                                          O_NOFOLLOW; mode only when created (umask applies)
//         { op: "rename", path, to }                       rename(2): with writeFile first, an atomic replace
//         { op: "spreadSubdirs", path }                    sets the directory's FS_TOPDIR_FL (ext2/3/4): its
//                                                          new subdirectories are spread over the block
//                                                          groups like top-level ones (fails ENOTTY or
//                                                          EOPNOTSUPP on file systems without the flag)
//       (mkdir, writeFile and rename let a caller write several small files in one round trip, e.g.
//       a container's /etc/hosts, hostname, resolv.conf and its network record.)
//       A malformed op rejects with a TypeError naming it before anything is touched, e.g.
//       `applyFileOps: ops[2].mode: must be S_IFCHR, S_IFBLK or S_IFIFO plus permission bits`.
//       A failed syscall rejects with an Error shaped like Node's fs errors:
//       message `ENOENT mknod /x/dev/foo: no such file or directory`, and properties
//       code ("ENOENT"), errno (negative, as in Node), syscall, path, index (of the failed op).
//       Ops before `index` stay applied.
//
//   lgetxattr(path: string, name: string): Promise<Buffer | null>
//       The attribute's value, or null when the file has no such attribute (ENODATA). Does not
//       follow a final symlink. Other failures reject like applyFileOps (syscall "lgetxattr").
//
//   new Sha256(): { update(data: Buffer, fd?: number): Promise<void>, digest(): string }
//       SHA-256 with each update on the thread pool (through the OpenSSL the node binary exports,
//       the code node:crypto runs). One update at a time: a second before the first settled throws.
//       digest() is the hex digest of what was hashed so far; updates may go on after it. With fd,
//       the update also writes all of data to fd at its offset, in the same work item (a blob
//       stored as it is hashed); a failed write rejects like Node's fs (code, errno, syscall "write").
//
//   new Gunzip(hashOutput?: boolean): { step(input, output): Promise<{ used, produced }>, complete(): boolean,
//                                       outputDigest(): string }
//       A gzip stream (one or more members; zero bytes between or after them are padding) inflated
//       by Intel ISA-L on the thread pool, into output, until the input is used up or the output is
//       full (a full output may leave more pending: step again, with empty input if need be). Bad
//       data rejects with an Error (code "EGUNZIP") saying what: "incorrect data check" (CRC-32 or
//       length in the trailer), "incorrect header check", "invalid deflate block" …
//       complete() tells whether the bytes so far end exactly after a member. With hashOutput, each
//       step also hashes what it produced; outputDigest() is the hex SHA-256 of all output so far.
//
//   netnsCreate(path: string): Promise<void>
//       A new network namespace kept alive by a bind mount of its ns file onto `path` (created
//       here, must not exist). Made by a short-lived thread of the addon (unshare(CLONE_NEWNET),
//       bind-mount /proc/thread-self/ns/net), which also sets `lo` up in it. Nothing is left when
//       it fails.
//
//   netnsDelete(path: string): Promise<void>
//       umount(MNT_DETACH) + unlink of such a file; an unmounted leftover file is removed too.
//
//   netlink(ops: NetOp[]): Promise<void>
//       rtnetlink requests, in order, as ONE async work item; the first failure stops the batch
//       (earlier ops stay applied). Each op runs in the namespace at its `netns` path (omitted:
//       the daemon's own): a socket is opened there by a short-lived thread (a netlink socket
//       stays bound to the namespace it was made in). Links are named; indexes are looked up.
//         { op: "bridge-add", name, mtu?, mac?, up? }
//         { op: "veth-add",   name, peer, peerNetns?, peerMac?, mtu?, master?, up? }
//                             the peer is made directly inside peerNetns under its final name
//         { op: "vxlan-add",  name, vni, local?, port? (4789), dev?, learning? (false), proxy? (false: ARP answered from the neighbour table), mtu?, master?, up? }
//         { op: "link-set",   name, up?, mtu?, mac?, master?, rename?, netns-move: peerNetns?, hairpin? }
//         { op: "link-del",   name }
//         { op: "addr-add" | "addr-del",   name, ip, prefix }
//         { op: "route-add" | "route-del", ip?, prefix (0 = default), gateway?, dev? }
//         { op: "neigh-add" | "neigh-del", dev, ip, mac? }          permanent IPv4 neighbour
//         { op: "fdb-add" | "fdb-del",     dev, mac, ip? }          bridge FDB (NTF_SELF), ip = remote VTEP
//       A malformed op rejects with a TypeError before anything is sent. A kernel refusal rejects
//       with an Error: message `EEXIST bridge-add shoal0: file exists`, properties code ("EEXIST"),
//       errno (negative), op ("bridge-add"), index (of the failed op).
//
//   linkGet(name: string, netns?: string): Promise<LinkInfo | null>
//       { index, name, kind, mtu, mac, up, master (ifindex, 0 = none) }, or null when no such link.
//
//   nftApply(text: string): Promise<void>
//       An nftables script in nft's own syntax (what `nft -f -` reads) through libnftables, in the
//       daemon's namespace, as ONE async work item and one kernel transaction: no `nft` process is
//       forked. A refusal rejects with an Error: message `nft: <nft's error text>`, code "ENFT".
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shoal_native {

struct SpawnResult {
  int code = -1;  // exit status, or 128+signal
  std::string out, err;
  std::string spawn_error;  // non-empty when the executable could not be started
};

// Runs `path args...` with stdin from /dev/null and captures stdout and stderr.
SpawnResult spawn_and_wait(const std::string& path, const std::vector<std::string>& args);

struct Probe {
  std::string cgroup;
  bool seccomp = false, overlay = false;
};
Probe probe();

// One file operation of applyFileOps, already checked on the JS thread.
struct FileOp {
  enum Kind { Mknod, Lchown, Chmod, Lutimes, Lsetxattr, MountTmpfs, Umount, Mkdir, WriteFile, Rename, SpreadSubdirs } kind =
      Mknod;
  std::string path;
  uint32_t mode = 0, major = 0, minor = 0;  // Mknod (mode with type bits), Chmod, MountTmpfs, Mkdir, WriteFile
  uint64_t size = 0;                        // MountTmpfs
  uint32_t uid = 0, gid = 0;                // Lchown
  struct timespec atime {}, mtime{};        // Lutimes
  std::string name, value;                  // Lsetxattr (name, value), WriteFile (value: the contents)
  std::string target;                       // Rename: the new path
};

struct FileOpFailure {
  int err = 0;  // errno; 0 when every op succeeded
  size_t index = 0;
  const char* syscall = "";
};

// Applies ops in order, stopping at the first failure. Blocking: call it on a worker thread.
FileOpFailure apply_file_ops(const std::vector<FileOp>& ops);

// lgetxattr(2) of any size into value; returns 0 or the errno (ENODATA: no such attribute).
int get_xattr(const std::string& path, const std::string& name, std::string& value);

// ---- networking (netlink.cc)

struct NetError {
  int err = 0;  // errno; 0 = success
  std::string what;
  size_t index = 0;
};

// One rtnetlink request of netlink(), already checked on the JS thread.
struct NetOp {
  enum Kind {
    BridgeAdd, VethAdd, VxlanAdd, LinkSet, LinkDel, AddrAdd, AddrDel,
    RouteAdd, RouteDel, NeighAdd, NeighDel, FdbAdd, FdbDel
  } kind = BridgeAdd;
  std::string netns;                    // "" = the daemon's namespace
  std::string name, peer, peerNetns, peerMac, master, rename, mac, dev, ip, gateway, local;
  uint32_t mtu = 0, prefix = 0, vni = 0, port = 0;
  int up = -1, hairpin = -1;  // -1 = unchanged
  bool learning = false;
  bool proxy = false;
  std::string describe() const;
};

struct LinkInfo {
  bool found = false;
  int index = 0;
  std::string name, kind, mac;
  uint32_t mtu = 0, master = 0;
  bool up = false;
};

NetError netns_create(const std::string& path);
NetError netns_delete(const std::string& path);
NetError netlink_run(const std::vector<NetOp>& ops);
// A missing link is not an error: out.found is false.
NetError link_get(const std::string& netns, const std::string& name, LinkInfo& out);

// Runs an nftables script through libnftables (blocking: call it on a worker thread). Returns true,
// or false with nft's error text in `error`.
bool nft_apply(const std::string& text, std::string& error);

// ---- gzip (gunzip.cc)

struct GunzipStep {
  size_t used = 0;      // input bytes consumed
  size_t produced = 0;  // output bytes written
  int error = 0;        // 0, or an ISA-L inflate error (see Gunzip::describe)
};

// A gzip stream of one or more members, inflated slice by slice. Not thread-safe: one step at a time.
class Gunzip {
 public:
  Gunzip();
  ~Gunzip();
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;
  // Inflates from in[0..len) into out[0..cap); returns when the input is used up, the output is full
  // or the data is bad. Call again with an empty input while the output came back full.
  GunzipStep step(const uint8_t* in, size_t len, uint8_t* out, size_t cap);
  // Whether the stream so far ends exactly after a member (else it was cut short).
  bool complete() const;
  static const char* describe(int error);

 private:
  struct State;
  State* s_;
  bool in_member_ = false;
  size_t members_ = 0;
};

}  // namespace shoal_native
