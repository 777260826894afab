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
//   probe(): { cgroup: "v1" | "v2" | "hybrid", seccomp: boolean, overlay: boolean }
//       What this machine supports (statfs of /sys/fs/cgroup, /proc/filesystems, seccomp).
//       Cheap and non-blocking (a few reads of procfs/sysfs), hence synchronous.
//
//   runtimePath(): string
//       The shoal-runtime executable the calls above spawn: next to this addon unless
//       setRuntimePath() chose another.
//
//   setRuntimePath(path: string): void
#pragma once

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

}  // namespace shoal_native
