// A process exec'd into a running container: joins the init's namespaces and cgroups, then
// applies the process object (user, caps, no_new_privs, the container's seccomp filter).
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
