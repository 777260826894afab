// Sealed in-memory copies of our own executables (CVE-2019-5736). A process that enters a
// container's namespaces must not have a host file as its /proc/self/exe: a program in the
// container can exec it (`#!/proc/self/exe`) or open /proc/PID/exe and, once it is no longer
// busy, overwrite the host's binary. So everything of ours that enters a container runs from a
// memfd copy sealed against writes, growth, shrinking and further seal changes; a copy can be
// read and run from inside, never changed, and the host's file is never reachable.
// libc only: shared by shoal-runtime, shoal-monitor and the addon.
#pragma once
#include <string>

namespace shoal {

// Names the host path of the runtime executable in the environment of a runtime that runs from a
// sealed copy (its /proc/self/exe then says "/memfd:shoal-runtime (deleted)"). Set by whoever
// execs the copy: the addon, or the runtime re-exec'ing itself.
extern const char kRuntimePathEnv[];

// A new memfd (close-on-exec) holding the bytes of `src_fd` from offset 0, sealed. -1 with errno.
int sealed_copy(int src_fd, const char* name);
int sealed_copy_of(const std::string& path, const char* name);
// True when `fd` is a memfd carrying at least the seals sealed_copy() adds.
bool is_sealed(int fd);
// True when this process runs from such a copy.
bool running_sealed();
// execveat(fd, "", AT_EMPTY_PATH): runs the executable behind `fd`; returns only on failure.
int exec_fd(int fd, char* const argv[], char* const envp[]);

}  // namespace shoal
