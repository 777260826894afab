// The container's init process, from clone() to execve(): runs in the new namespaces, talks to
// the monitor over a seqpacket channel ('G' go, 'R' ready, 'T' terminal fd, 'S' start, 'E' error).
#pragma once
#include <utility>
#include <vector>

#include "spec.h"

namespace shoal {

struct InitPlan {
  Spec* spec;
  int sync = -1;
  int stdio[3] = {-1, -1, -1};             // dup'ed onto 0,1,2 unless the process has a terminal
  std::vector<std::pair<int, int>> join;   // (fd, CLONE_NEW*) namespaces to enter by path
  bool new_cgroupns = false;
  std::vector<int> cgroup_fds;             // written "0" to: the init joins its cgroups itself
  int close_fd = -1;                       // the monitor's result pipe: not ours to hold
  bool sibling = false;                    // runc mode: our parent is the monitor's caller, not the monitor
};

[[noreturn]] void container_init(InitPlan& plan);

// Brings up the loopback interface of the current network namespace.
void loopback_up();

}  // namespace shoal
