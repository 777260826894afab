// Linux capabilities by name, and applying the five sets of an OCI process.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace shoal {

struct CapSets {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

// CAP_FOO → number; throws Fail(`unknown capability "CAP_FOO"`)
int cap_from_name(const std::string& name);
uint64_t caps_from_names(const std::vector<std::string>& names);
int cap_last_cap();
// Every capability name this build knows (CAP_CHOWN …), in number order.
std::vector<std::string> all_capability_names();

// Drops every bounding capability not in `sets.bounding`. Needs CAP_SETPCAP (run as root first).
void drop_bounding(const CapSets& sets);
// Sets effective/permitted/inheritable (plus `extra_keep` in effective+permitted) via capset.
void apply_caps(const CapSets& sets, uint64_t extra_keep);
// Raises the ambient set (after apply_caps).
void raise_ambient(const CapSets& sets);

}  // namespace shoal
