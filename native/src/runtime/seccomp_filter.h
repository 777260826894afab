// Compiles an OCI linux.seccomp object to a BPF program with libseccomp. Programs are cached by
// a hash of the profile (compiling Docker's profile costs milliseconds; loading a cached one,
// microseconds). Compiled at create, so a bad profile fails create; loaded just before exec.
#pragma once
#include <string>

#include "spec.h"

namespace shoal {

// Returns the BPF program (struct sock_filter array) for `spec`; cache_dir may be "".
std::string seccomp_program(const SeccompSpec& spec, const std::string& cache_dir);
// Installs the program in the calling thread (no_new_privs or CAP_SYS_ADMIN required).
void seccomp_install(const std::string& program);

}  // namespace shoal
