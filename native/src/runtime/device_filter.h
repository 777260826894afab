// Device rules on cgroup v2. v2 has no devices.allow/deny files: the kernel asks an eBPF program of
// type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup (and to each ancestor) on every open and
// mknod of a char or block node. This module turns the OCI rules into that program and attaches it.
#pragma once
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "spec.h"

namespace shoal {

// The nodes a container may always use whatever its rules deny (null, zero, full, random, urandom,
// tty, console, ptmx, pts/*), as runc: appended after the spec's rules, in v1 and v2 alike.
const std::vector<DeviceRule>& default_device_rules();

// What the v1 device controller would hold after the rules were written to devices.allow/deny in order:
// a default (allow or deny all) and exceptions keyed by type:major:minor with their access bits merged.
struct DeviceException {
  char type;            // 'c' or 'b'
  int64_t major, minor;  // -1 = any
  unsigned access;      // BPF_DEVCG_ACC_* bits
};
struct DevicePolicy {
  bool default_allow = true;  // a fresh v1 cgroup allows everything
  std::vector<DeviceException> exceptions;
};
DevicePolicy device_policy(const std::vector<DeviceRule>& rules);

// The program deciding as that v1 cgroup would: pure, for tests and for attach_device_filter.
std::vector<bpf_insn> device_filter_program(const DevicePolicy& policy);

// Loads the program for `rules` (followed by the defaults) and attaches it to the cgroup directory
// (BPF_F_ALLOW_MULTI, so a parent's program still applies too). Throws Fail naming the step.
void attach_device_filter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules);

}  // namespace shoal
