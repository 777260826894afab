// The last steps before exec, shared by a container's init and by exec'd processes: user and
// groups, rlimits, capabilities, no_new_privs, seccomp; and finding the executable.
#pragma once
#include <string>

#include "seccomp_filter.h"
#include "spec.h"

namespace shoal {

// Resolves `name[:group]` (names or numbers) against /etc/passwd and /etc/group of the current
// root, filling uid, gid, additionalGids (groups listing the user) and HOME.
void resolve_user(Process& p, const std::string& user);
// Sets HOME from /etc/passwd (by uid; "/" if absent) unless the env has it, as runc does.
void ensure_home(Process& p);
// Finds the program as execve would after chdir(cwd); throws `exec "NAME": ...`.
std::string find_executable(const Process& p);
// Applies rlimits and oom_score_adj (before dropping privileges).
void apply_limits(const Process& p);
// setgroups/setgid/setuid, caps, umask, no_new_privs, seccomp (last), then execve. Never returns;
// throws Fail when a step fails.
// run_fd >= 0: run that executable (a sealed copy) with p.args instead of `path`.
[[noreturn]] void finalize_and_exec(const Process& p, const std::string& seccomp_bpf, const std::string& path,
                                    int run_fd = -1);

}  // namespace shoal
