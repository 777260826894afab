// The per-container monitor: creates the cgroup and the container's init, then lives as long as
// the container, serving ctl.sock, writing logs and finally exit.json (PROTOCOL.md).
#pragma once
#include <cstdint>
#include <string>

#include "spec.h"

namespace shoal {

struct MonitorOptions {
  std::string id, state_dir, log_path, pid_file;
  uint64_t log_max_size = 0;
  unsigned log_max_files = 1;
  bool stdin_open = false;
  // The container's process gets our caller's stdio (runc's create/run without --log-path).
  bool passthrough = false;
  std::string console_socket;  // process.terminal: where the pty master goes (SCM_RIGHTS)
  std::string runtime_path;  // the host's shoal-runtime (shoal-monitor is next to it)
  // Keep the sealed copy we run from (/proc/self/exe) to start exec-helper from; otherwise the
  // monitor makes a sealed copy of runtime_path per exec. See sealed_exe.h.
  bool keep_runtime_copy = false;
};

// Runs in the forked monitor. Reports "ok" or the error line on result_fd, then serves until the
// container has exited. Never returns.
// After a successful setup it re-execs into the small `shoal-monitor` executable next to it (a
// monitor's RSS stays well under 1 MiB); without that file it keeps running in place.
[[noreturn]] void monitor_main(Spec& spec, const MonitorOptions& opts, int result_fd);

}  // namespace shoal
