// OCI hooks (config.json "hooks"): programs the runtime runs at points of the lifecycle, each
// with the container's state (JSON) on its stdin. Who runs which, and where:
//   prestart, createRuntime   the monitor, in the runtime's namespaces, during create, after the
//                             container's mounts and before pivot_root
//   createContainer           the container's init, in the container's namespaces, right after
//   startContainer            the container's init, in the container (after pivot_root), at start
//                             just before the user's program is exec'd
//   poststart                 `shoal-runtime start`/`run`, once the program runs (failure: warning)
//   poststop                  `shoal-runtime delete`/`run`, once the container is gone (failure: warning)
// The create-time and start-time ones failing fail the operation, and the container is stopped.
#pragma once
#include <string>
#include <vector>

namespace shoal {

struct Hook {
  std::string path;                     // absolute
  std::vector<std::string> args, env;   // args[0] is argv[0]; none → {path}
  int timeout = 0;                      // seconds; 0 = none
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
  bool any_before_start() const {
    return !prestart.empty() || !create_runtime.empty() || !create_container.empty() || !start_container.empty();
  }
};

// Parses the "hooks" object's JSON text (bad fields throw Fail naming them).
Hooks parse_hooks_text(const std::string& json_text);
// Runs the hooks in order with `state` on stdin; throws Fail("<phase> hook <path>: <why>") at the
// first that fails to start, exits non-zero, is killed or outlives its timeout.
void run_hooks(const std::vector<Hook>& hooks, const char* phase, const std::string& state);
// As run_hooks, but every failure is a warning on stderr and the rest still run.
void run_hooks_warning(const std::vector<Hook>& hooks, const char* phase, const std::string& state);

}  // namespace shoal
