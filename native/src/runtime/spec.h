// The part of the OCI runtime spec (config.json) shoal-runtime implements, parsed and validated
// up front so that a bad value fails `create` before anything is set up.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "caps.h"
#include "hooks.h"

namespace shoal {

struct Rlimit {
  int resource;
  uint64_t soft, hard;
};

struct SeccompArg {
  unsigned index;
  uint64_t value, value_two;
  int op;  // enum scmp_compare
};
struct SeccompRule {
  std::vector<std::string> names;
  uint32_t action;  // libseccomp action incl. errno
  std::vector<SeccompArg> args;
};
struct SeccompSpec {
  uint32_t default_action;
  std::vector<uint32_t> arches;
  std::vector<SeccompRule> rules;
};

struct Process {
  bool terminal = false;
  unsigned short height = 0, width = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<mode_t> umask;
  std::vector<gid_t> additional_gids;
  std::vector<std::string> args, env;
  std::string cwd = "/";
  CapSets caps;
  bool has_caps = false;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  // from Docker-style user strings resolved inside the container ("name[:group]")
  std::string user_name;
};

struct Mount {
  std::string destination, type, source;
  unsigned long flags = 0;          // MS_* applied at mount
  unsigned long propagation = 0;    // MS_SHARED/... applied after
  bool bind = false, recursive = false;
  std::string data;                 // filesystem options
};

struct Namespace {
  int flag;          // CLONE_NEW*
  std::string path;  // join instead of create
};

struct IdMap {
  uint32_t container_id, host_id, size;
};

struct Device {
  char type;  // c b u p
  std::string path;
  int64_t major = 0, minor = 0;
  mode_t mode = 0666;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct DeviceRule {
  bool allow;
  char type;  // a c b
  int64_t major = -1, minor = -1;
  std::string access;
};

struct BlkioDevice {
  int64_t major = 0, minor = 0;
  uint64_t value = 0;  // weight, or bytes/IOs per second
};

struct Resources {
  std::optional<uint64_t> memory_swappiness;  // 0-100 (v1 only)
  std::optional<uint64_t> blkio_weight;        // 10-1000
  std::vector<BlkioDevice> blkio_weight_devices, throttle_read_bps, throttle_write_bps, throttle_read_iops,
      throttle_write_iops;
  bool has_blkio() const {
    return blkio_weight || !blkio_weight_devices.empty() || !throttle_read_bps.empty() || !throttle_write_bps.empty() ||
           !throttle_read_iops.empty() || !throttle_write_iops.empty();
  }
  std::optional<int64_t> memory_limit, memory_reservation, memory_swap;
  bool disable_oom_killer = false;
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::string cpuset_cpus, cpuset_mems;
  std::optional<int64_t> pids_limit;
  std::vector<DeviceRule> devices;
  bool has_devices = false;
};

struct Spec {
  std::string bundle;
  std::string root;  // absolute
  bool root_readonly = false;
  std::string hostname, domainname;
  Process process;
  std::vector<Mount> mounts;
  std::vector<Namespace> namespaces;
  std::vector<IdMap> uid_maps, gid_maps;
  std::vector<Device> devices;
  std::string cgroups_path;
  Resources resources;
  std::map<std::string, std::string> sysctl;
  std::optional<SeccompSpec> seccomp;
  std::string seccomp_bpf;  // the compiled program (filled at create)
  std::vector<std::string> masked_paths, readonly_paths;
  unsigned long rootfs_propagation = 0;
  std::map<std::string, std::string> annotations;
  // overlay rootfs (org.shoal.rootfs.*)
  std::vector<std::string> lowerdirs;
  std::string upperdir, workdir;
  bool stdin_once = false;
  // org.shoal.init: host path of an init (docker-init) run as process.args[0] from a sealed copy
  std::string init_path;

  Hooks hooks;
  std::string hooks_json;  // the "hooks" object as given (kept in the state dir for start/delete)

  bool has_ns(int flag) const;
  const Namespace* ns(int flag) const;
};

// Reads <bundle>/config.json; throws Fail naming the bad field.
Spec load_spec(const std::string& bundle);
// Parses an OCI "process" object (also used by exec); `where` prefixes error messages.
Process parse_process(const std::string& json_text, const std::string& where);
// An OCI LinuxResources object (as `update --resources` reads it); `where` prefixes error messages.
Resources parse_resources_text(const std::string& json_text, const std::string& where);
// Only linux.seccomp of <bundle>/config.json (exec'd processes get the container's filter).
std::optional<SeccompSpec> load_seccomp(const std::string& bundle);
// Parses mount options into flags / data (exposed for tests of exec paths, too).
void parse_mount_options(const std::vector<std::string>& opts, Mount& m);

}  // namespace shoal
