// A process exec'd into a running container. Runs in exec-helper (from a sealed copy of the
// runtime, started by the monitor in the host's namespaces): joins the init's cgroups and
// namespaces, clones the process into the container's pid namespace (as the monitor's child,
// pid reported on `sync` as 'P'), which applies the process object (user, caps,
// no_new_privs, the container's seccomp filter) and execs.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "spec.h"

namespace shoal {

struct ExecPlan {
  const Spec* spec;
  Process process;
  std::string user;                    // optional "name[:group]" resolved in the container
  pid_t init_pid;
  std::vector<std::string> cgroup_procs;
  int sync = -1;
  int stdio[3] = {-1, -1, -1};
};

[[noreturn]] void exec_child(ExecPlan& plan);

}  // namespace shoal
