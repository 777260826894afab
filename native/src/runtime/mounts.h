// The container's filesystem view, set up inside its new mount namespace: rootfs (dir or
// overlay), spec mounts, /dev nodes and links, pivot_root, masked and read-only paths.
#pragma once
#include "spec.h"

namespace shoal {

// Before pivot_root: propagation, rootfs, every spec mount, devices. Paths are host paths.
void prepare_rootfs(const Spec& spec);
// pivot_root into spec.root and detach the old root.
void pivot_into(const std::string& root);
// After pivot_root: linux.rootfsPropagation on the new root (runc does it there too).
void set_root_propagation(unsigned long prop);
// After pivot_root: masked paths, read-only paths (sysctls are written before this).
void finish_rootfs(const Spec& spec);
// Last: the read-only root remount.
void readonly_root();
// Bind `host_path` (a pty slave here) over /dev/console.
void bind_console(const std::string& slave);

}  // namespace shoal
