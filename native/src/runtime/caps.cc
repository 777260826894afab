#include "caps.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterator>

#include "util.h"

namespace shoal {

static const char* const kCapNames[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",          "CAP_FSETID",
    "CAP_KILL",            "CAP_SETGID",       "CAP_SETUID",          "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",     "CAP_NET_RAW",         "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",       "CAP_SYS_MODULE",   "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",        "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",         "CAP_LEASE",           "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",       "CAP_SYSLOG",
    "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
static const int kCapCount = sizeof kCapNames / sizeof kCapNames[0];

std::vector<std::string> all_capability_names() {
  return std::vector<std::string>(std::begin(kCapNames), std::end(kCapNames));
}

int cap_from_name(const std::string& name) {
  for (int i = 0; i < kCapCount; i++)
    if (name == kCapNames[i]) return i;
  throw Fail("unknown capability \"" + name + "\"");
}

int cap_last_cap() {
  static int last = -1;
  if (last < 0) {
    std::string s = read_file_or("/proc/sys/kernel/cap_last_cap", "40");
    last = atoi(s.c_str());
  }
  return last;
}

uint64_t caps_from_names(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  int last = cap_last_cap();
  for (auto& n : names) {
    int c = cap_from_name(n);
    if (c <= last) mask |= 1ULL << c;  // capabilities this kernel lacks are ignored, as runc does
  }
  return mask;
}

void drop_bounding(const CapSets& sets) {
  int last = cap_last_cap();
  for (int c = 0; c <= last; c++) {
    if (sets.bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) fail_errno("drop bounding capability " + std::string(c < kCapCount ? kCapNames[c] : "?"));
  }
}

void apply_caps(const CapSets& sets, uint64_t extra_keep) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  uint64_t eff = sets.effective | extra_keep, perm = sets.permitted | extra_keep, inh = sets.inheritable;
  data[0].effective = static_cast<uint32_t>(eff);
  data[1].effective = static_cast<uint32_t>(eff >> 32);
  data[0].permitted = static_cast<uint32_t>(perm);
  data[1].permitted = static_cast<uint32_t>(perm >> 32);
  data[0].inheritable = static_cast<uint32_t>(inh);
  data[1].inheritable = static_cast<uint32_t>(inh >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) fail_errno("set capabilities");
}

void raise_ambient(const CapSets& sets) {
  if (!sets.ambient) return;
  int last = cap_last_cap();
  for (int c = 0; c <= last; c++) {
    if (!(sets.ambient & (1ULL << c))) continue;
    // An ambient cap must also be permitted and inheritable; the kernel refuses otherwise (runc ignores it too).
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
}

}  // namespace shoal
