// Cgroups v1 (one directory per controller) and v2 (one unified directory): create with the
// spec's limits, add processes, freeze, read stats and the OOM-kill counter, remove.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "spec.h"

namespace shoal {

enum class CgroupMode { V1, V2 };
CgroupMode cgroup_mode();                 // v2 only when /sys/fs/cgroup itself is cgroup2
bool cgroup_hybrid();                     // v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified
std::map<std::string, std::string> cgroup_v1_mounts();  // controller (or name=x) → mount point
// Whether the host can give a container this controller (v1: mounted; v2: in cgroup.controllers).
bool cgroup_controller_available(const std::string& controller);

struct Cgroup {
  CgroupMode mode = CgroupMode::V1;
  // controller → absolute directory ("unified" in v2). Several controllers may share one directory.
  std::map<std::string, std::string> paths;

  // Creates the directories and applies the limits; throws Fail, removing what it made.
  static Cgroup create(const Spec& spec, const std::string& id);
  static Cgroup from_paths(const std::map<std::string, std::string>& paths);
  // The directories create() would use, without creating anything (cleanup after a lost monitor).
  static Cgroup planned(const Spec& spec, const std::string& id);

  void add(pid_t pid) const;               // throws Fail
  // Writes the given limits of a live container (runc's `update`); devices are left as they are.
  void update(const Resources& r) const;   // throws Fail
  // The files a process writes "0" to in order to join every directory itself. In v1 these are
  // `tasks`: moving only the calling thread skips the global threadgroup lock, whose RCU grace
  // period otherwise costs ~10 ms per container (our callers are single-threaded).
  std::vector<std::string> join_files() const;
  std::vector<pid_t> pids() const;
  bool freeze(bool frozen) const;           // waits until the state is reached; false on failure
  bool frozen() const;
  long oom_kills() const;
  std::string stats_json() const;           // the "memory","cpu","pids" members of the stats reply
  void destroy() const;                     // kills what is left, removes the directories
  std::string dir(const std::string& controller) const;
};

}  // namespace shoal
