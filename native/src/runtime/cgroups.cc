#include "cgroups.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <set>

#include "device_filter.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace shoal {

CgroupMode cgroup_mode() {
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) == 0 && static_cast<unsigned long>(sf.f_type) == CGROUP2_SUPER_MAGIC)
    return CgroupMode::V2;
  return CgroupMode::V1;
}

bool cgroup_hybrid() {
  struct statfs sf;
  return cgroup_mode() == CgroupMode::V1 && statfs("/sys/fs/cgroup/unified", &sf) == 0 &&
         static_cast<unsigned long>(sf.f_type) == CGROUP2_SUPER_MAGIC;
}

std::map<std::string, std::string> cgroup_v1_mounts() {
  // Read once per process: the container's init (a clone of the monitor) reuses the answer.
  static std::map<std::string, std::string> cached;
  static bool done = false;
  if (done) return cached;
  done = true;
  std::map<std::string, std::string>& out = cached;
  std::string mi;
  if (!read_file("/proc/self/mountinfo", mi)) return out;
  for (auto& line : split(mi, '\n')) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto post = split(line.substr(dash + 3), ' ');
    if (post.size() < 3 || post[0] != "cgroup") continue;
    auto pre = split(line.substr(0, dash), ' ');
    if (pre.size() < 5) continue;
    for (auto& opt : split(post[2], ',')) {
      if (opt == "rw" || opt == "ro" || opt == "nosuid" || opt == "nodev" || opt == "noexec" || opt == "relatime" ||
          opt == "clone_children" || starts_with(opt, "release_agent") || opt == "noprefix" || opt == "xattr")
        continue;
      if (!out.count(opt)) out[opt] = pre[4];
    }
  }
  return out;
}

namespace {

std::string rel_path(const Spec& spec, const std::string& id) {
  std::string p = spec.cgroups_path.empty() ? "/shoal/" + id : spec.cgroups_path;
  // systemd-style "slice:prefix:name" is mapped onto a plain path
  if (p.find(':') != std::string::npos) {
    auto parts = split(p, ':');
    p = "/" + parts[0] + "/" + parts[1] + "-" + parts[2];
  }
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  for (auto& part : split(p, '/'))
    if (part == "tasks") throw Fail("cgroup path \"" + p + "\": \"tasks\" is a reserved name in cgroup v1");
  return p;
}

// Whether the spec sets anything that controller `c` (cgroup v1) enforces. The device rules are left out:
// every spec carries the default ones, and /dev holds only the default nodes anyway.
bool asks_for(const std::string& c, const Resources& r) {
  if (c == "memory")
    return r.memory_limit || r.memory_reservation || r.memory_swap || r.memory_swappiness || r.disable_oom_killer;
  if (c == "cpu") return r.cpu_shares || r.cpu_quota || r.cpu_period;
  if (c == "pids") return r.pids_limit.has_value();
  if (c == "cpuset") return !r.cpuset_cpus.empty() || !r.cpuset_mems.empty();
  if (c == "blkio") return r.has_blkio();
  return false;
}

bool wr(const std::string& dir, const char* file, const std::string& v, int* err = nullptr) {
  return try_write_file(dir + "/" + file, v, err);
}

void must(const std::string& dir, const char* file, const std::string& v) {
  int err = 0;
  if (!wr(dir, file, v, &err)) {
    std::string what = std::string("cgroup ") + file + " = " + v;
    if (err == EINVAL || err == ERANGE) throw Fail(what + ": invalid value");
    fail_errno(what, err);
  }
}

// A new v1 cpuset is empty; each level must inherit cpus/mems from its parent before use.
void cpuset_init_chain(const std::string& mount, const std::string& rel) {
  std::string cur = mount;
  for (auto& part : split(rel, '/')) {
    std::string parent = cur;
    cur += "/" + part;
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      std::string v = trim(read_file_or(cur + "/" + f, ""));
      if (v.empty()) wr(cur, f, trim(read_file_or(parent + "/" + f, "")));
    }
  }
}

std::string dev_rule(const DeviceRule& r) {
  auto num = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
  if (r.type == 'a') return "a *:* " + r.access;
  return std::string(1, r.type) + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

std::string limit_text(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

// memory + memsw (v1). The kernel keeps memory <= memsw at every write, so when the limits move up memsw
// must be written first and when they move down memory first: try one order, then the other.
void set_memory_v1(const std::string& d, int64_t limit, int64_t memsw) {
  const bool has_memsw = path_exists(d + "/memory.memsw.limit_in_bytes");
  auto mem = [&](int* err) { return wr(d, "memory.limit_in_bytes", std::to_string(limit), err); };
  auto sw = [&](int* err) { return !has_memsw || wr(d, "memory.memsw.limit_in_bytes", std::to_string(memsw), err); };
  int err = 0;
  if (mem(&err) && sw(&err)) return;
  if (sw(&err) && mem(&err)) return;
  if (err == EBUSY)
    throw Fail("memory limit " + std::to_string(limit) + " is below what the container uses now (EBUSY)");
  fail_errno("cgroup memory.limit_in_bytes = " + std::to_string(limit), err);
}

std::string blkio_dev(const BlkioDevice& d, const std::string& value) {
  return std::to_string(d.major) + ":" + std::to_string(d.minor) + " " + value;
}

// v1 blkio: weights go to blkio.weight (CFQ) or blkio.bfq.weight (BFQ); without either the
// host's scheduler has no proportional weights and the setting is refused.
void apply_blkio_v1(const std::string& d, const Resources& r) {
  if (r.blkio_weight || !r.blkio_weight_devices.empty()) {
    std::string prefix = path_exists(d + "/blkio.weight") ? "blkio." : path_exists(d + "/blkio.bfq.weight") ? "blkio.bfq." : "";
    if (prefix.empty())
      throw Fail("linux.resources.blockIO.weight: the host's blkio controller has no weight file (no CFQ or BFQ I/O scheduler)");
    if (r.blkio_weight) must(d, (prefix + "weight").c_str(), std::to_string(*r.blkio_weight));
    for (auto& w : r.blkio_weight_devices) must(d, (prefix + "weight_device").c_str(), blkio_dev(w, std::to_string(w.value)));
  }
  for (auto& t : r.throttle_read_bps) must(d, "blkio.throttle.read_bps_device", blkio_dev(t, std::to_string(t.value)));
  for (auto& t : r.throttle_write_bps) must(d, "blkio.throttle.write_bps_device", blkio_dev(t, std::to_string(t.value)));
  for (auto& t : r.throttle_read_iops) must(d, "blkio.throttle.read_iops_device", blkio_dev(t, std::to_string(t.value)));
  for (auto& t : r.throttle_write_iops) must(d, "blkio.throttle.write_iops_device", blkio_dev(t, std::to_string(t.value)));
}

// v2 io: io.weight (1-10000, converted from blkio's 10-1000 as runc does) and io.max per device.
void apply_io_v2(const std::string& d, const Resources& r) {
  auto v2_weight = [](uint64_t w) { return 1 + (w - 10) * 9999 / 990; };
  if (r.blkio_weight || !r.blkio_weight_devices.empty()) {
    if (!path_exists(d + "/io.weight")) throw Fail("linux.resources.blockIO.weight: the cgroup has no io.weight (io controller or scheduler missing)");
    if (r.blkio_weight) must(d, "io.weight", "default " + std::to_string(v2_weight(*r.blkio_weight)));
    for (auto& w : r.blkio_weight_devices) must(d, "io.weight", blkio_dev(w, std::to_string(v2_weight(w.value))));
  }
  auto max = [&](const std::vector<BlkioDevice>& list, const char* key) {
    for (auto& t : list) must(d, "io.max", blkio_dev(t, std::string(key) + "=" + std::to_string(t.value)));
  };
  max(r.throttle_read_bps, "rbps");
  max(r.throttle_write_bps, "wbps");
  max(r.throttle_read_iops, "riops");
  max(r.throttle_write_iops, "wiops");
}

void apply_v1(const Cgroup& cg, const Resources& r, bool devices) {
  if (auto d = cg.dir("memory"); !d.empty()) {
    if (r.memory_limit) {
      // Docker's --memory without --memory-swap here means no swap at all: memsw = limit.
      int64_t memsw = r.memory_swap ? *r.memory_swap : *r.memory_limit;
      set_memory_v1(d, *r.memory_limit, memsw);
      if (memsw == *r.memory_limit) wr(d, "memory.swappiness", "0");
    }
    if (r.memory_reservation) must(d, "memory.soft_limit_in_bytes", std::to_string(*r.memory_reservation));
    if (r.disable_oom_killer) must(d, "memory.oom_control", "1");
    if (r.memory_swappiness) must(d, "memory.swappiness", std::to_string(*r.memory_swappiness));
  }
  if (r.has_blkio()) {
    std::string d = cg.dir("blkio");
    if (d.empty()) throw Fail("linux.resources.blockIO: the host has no blkio cgroup controller");
    apply_blkio_v1(d, r);
  }
  if (auto d = cg.dir("cpu"); !d.empty()) {
    if (r.cpu_shares) must(d, "cpu.shares", std::to_string(*r.cpu_shares));
    if (r.cpu_period) must(d, "cpu.cfs_period_us", std::to_string(*r.cpu_period));
    if (r.cpu_quota) must(d, "cpu.cfs_quota_us", std::to_string(*r.cpu_quota));
  }
  if (auto d = cg.dir("pids"); !d.empty() && r.pids_limit) must(d, "pids.max", limit_text(*r.pids_limit));
  if (auto d = cg.dir("cpuset"); !d.empty()) {
    if (!r.cpuset_cpus.empty()) must(d, "cpuset.cpus", r.cpuset_cpus);
    if (!r.cpuset_mems.empty()) must(d, "cpuset.mems", r.cpuset_mems);
  }
  trace("limits written");
  if (auto d = cg.dir("devices"); devices && !d.empty() && r.has_devices) {
    for (auto& rule : r.devices) must(d, rule.allow ? "devices.allow" : "devices.deny", dev_rule(rule));
    // As runc: the default nodes (null, zero, full, random, urandom, tty, console, ptmx, pts) stay
    // usable whatever the rules deny (a stock `runc spec` denies all). The spec's linux.devices get
    // only what the rules grant, as in runc: `--device /dev/x:/dev/x:r` must not be writable.
    // Best effort: a parent cgroup that withholds one of them refuses the write (EPERM), and then
    // the node stays denied, as it would be for runc too.
    for (auto& rule : default_device_rules()) wr(d, "devices.allow", dev_rule(rule));
  }
}

void apply_v2(const Cgroup& cg, const Resources& r) {
  std::string d = cg.dir("unified");
  if (r.memory_limit) {
    must(d, "memory.max", std::to_string(*r.memory_limit));
    int64_t memsw = r.memory_swap ? *r.memory_swap : *r.memory_limit;
    if (path_exists(d + "/memory.swap.max"))
      must(d, "memory.swap.max", memsw < 0 ? "max" : std::to_string(memsw - *r.memory_limit));
  }
  if (r.memory_reservation) must(d, "memory.low", std::to_string(*r.memory_reservation));
  if (r.cpu_shares) must(d, "cpu.weight", std::to_string(1 + ((*r.cpu_shares - 2) * 9999) / 262142));
  if (r.cpu_quota || r.cpu_period) {
    std::string q = (!r.cpu_quota || *r.cpu_quota < 0) ? "max" : std::to_string(*r.cpu_quota);
    must(d, "cpu.max", q + " " + std::to_string(r.cpu_period ? *r.cpu_period : 100000));
  }
  if (r.pids_limit) must(d, "pids.max", limit_text(*r.pids_limit));
  if (!r.cpuset_cpus.empty()) must(d, "cpuset.cpus", r.cpuset_cpus);
  if (!r.cpuset_mems.empty()) must(d, "cpuset.mems", r.cpuset_mems);
  if (r.memory_swappiness) throw Fail("linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness");
  if (r.has_blkio()) apply_io_v2(d, r);
}

}  // namespace

bool cgroup_controller_available(const std::string& c) {
  if (cgroup_mode() == CgroupMode::V2) {
    for (auto& have : split(trim(read_file_or("/sys/fs/cgroup/cgroup.controllers", "")), ' '))
      if (have == c) return true;
    return false;
  }
  return cgroup_v1_mounts().count(c) > 0;
}

void Cgroup::update(const Resources& r) const {
  // A controller the container was made without cannot take a limit now (v1: cpuset is only joined
  // when asked for at create); refuse rather than drop it.
  if (mode == CgroupMode::V1) {
    auto need = [&](const char* c, bool wanted) {
      if (wanted && dir(c).empty())
        throw Fail(std::string("the container has no ") + c + " cgroup: create it with that limit instead");
    };
    need("memory", r.memory_limit || r.memory_reservation || r.memory_swap);
    need("cpu", r.cpu_shares || r.cpu_quota || r.cpu_period);
    need("pids", r.pids_limit.has_value());
    need("cpuset", !r.cpuset_cpus.empty() || !r.cpuset_mems.empty());
    need("blkio", r.has_blkio());
    need("memory", r.memory_swappiness.has_value());
  }
  if (mode == CgroupMode::V2)
    apply_v2(*this, r);
  else
    apply_v1(*this, r, false);
}

namespace {

void sleep_ms(int ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

}  // namespace

std::string Cgroup::dir(const std::string& c) const {
  auto it = paths.find(c);
  return it == paths.end() ? "" : it->second;
}

Cgroup Cgroup::from_paths(const std::map<std::string, std::string>& p) {
  Cgroup cg;
  cg.paths = p;
  cg.mode = p.count("unified") ? CgroupMode::V2 : CgroupMode::V1;
  return cg;
}

Cgroup Cgroup::create(const Spec& spec, const std::string& id) {
  Cgroup cg;
  cg.mode = cgroup_mode();
  std::string rel = rel_path(spec, id);
  if (cg.mode == CgroupMode::V2) {
    std::string root = "/sys/fs/cgroup";
    std::string avail = read_file_or(root + "/cgroup.controllers", "");
    std::string enable;
    for (auto& c : split(trim(avail), ' '))
      if (c == "memory" || c == "cpu" || c == "pids" || c == "cpuset" || c == "io") enable += " +" + c;
    // Every ancestor must delegate the controllers to its children, from the root down: a level can
    // only enable what its parent already gives it.
    if (!enable.empty()) wr(root, "cgroup.subtree_control", enable.substr(1));
    std::string cur = root;
    auto parts = split(rel, '/');
    for (size_t i = 0; i < parts.size(); i++) {
      cur += "/" + parts[i];
      if (mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST) fail_errno("create cgroup " + cur);
      if (i + 1 < parts.size() && !enable.empty()) wr(cur, "cgroup.subtree_control", enable.substr(1));
    }
    cg.paths["unified"] = cur;
    try {
      apply_v2(cg, spec.resources);
      // v2 has no devices.allow: the rules become an eBPF program on the cgroup (none when the spec
      // gives no rules, as a v1 devices cgroup left alone allows everything).
      if (spec.resources.has_devices) attach_device_filter(cur, spec.resources.devices);
    } catch (...) {
      cg.destroy();
      throw;
    }
    return cg;
  }
  auto mounts = cgroup_v1_mounts();
  std::set<std::string> want = {"memory", "cpu", "cpuacct", "pids", "freezer", "devices"};
  if (!spec.resources.cpuset_cpus.empty() || !spec.resources.cpuset_mems.empty()) want.insert("cpuset");
  if (spec.resources.has_blkio()) want.insert("blkio");
  try {
    for (auto& c : want) {
      auto it = mounts.find(c);
      if (it == mounts.end()) {
        // A limit its controller cannot enforce is refused, never dropped; without any limit the container
        // runs without that controller (as under `ip netns exec`, which hides the cgroup file system).
        if (asks_for(c, spec.resources)) throw Fail("cgroup controller " + c + " is not mounted");
        continue;
      }
      std::string d = it->second + "/" + rel;
      if (c == "cpuset") {
        mkdir_p(d);
        cpuset_init_chain(it->second, rel);
      } else if (mkdir(d.c_str(), 0755) < 0) {
        if (errno == ENOENT) mkdir_p(d);
        else if (errno != EEXIST) fail_errno("create cgroup " + d);
      }
      cg.paths[c] = d;
      trace(("mkdir " + c).c_str());
    }
    apply_v1(cg, spec.resources, true);
  } catch (...) {
    cg.destroy();
    throw;
  }
  return cg;
}

Cgroup Cgroup::planned(const Spec& spec, const std::string& id) {
  Cgroup cg;
  cg.mode = cgroup_mode();
  std::string rel = rel_path(spec, id);
  if (cg.mode == CgroupMode::V2) {
    cg.paths["unified"] = "/sys/fs/cgroup/" + rel;
    return cg;
  }
  for (auto& [c, mp] : cgroup_v1_mounts())
    if (c == "memory" || c == "cpu" || c == "cpuacct" || c == "pids" || c == "freezer" || c == "devices" || c == "cpuset" ||
        c == "blkio")
      cg.paths[c] = mp + "/" + rel;
  return cg;
}

void Cgroup::add(pid_t pid) const {
  std::set<std::string> done;
  std::string p = std::to_string(pid);
  for (auto& [c, d] : paths) {
    if (!done.insert(d).second) continue;
    int err = 0;
    if (!wr(d, "cgroup.procs", p, &err)) fail_errno("join cgroup " + d, err);
  }
}

std::vector<std::string> Cgroup::join_files() const {
  std::set<std::string> dirs;
  for (auto& [c, d] : paths) dirs.insert(d);
  std::vector<std::string> out;
  for (auto& d : dirs) out.push_back(d + (mode == CgroupMode::V1 ? "/tasks" : "/cgroup.procs"));
  return out;
}

std::vector<pid_t> Cgroup::pids() const {
  std::string d = mode == CgroupMode::V2 ? dir("unified") : dir("pids");
  if (d.empty()) d = dir("memory");
  if (d.empty() && !paths.empty()) d = paths.begin()->second;
  std::vector<pid_t> out;
  for (auto& l : split(read_file_or(d + "/cgroup.procs", ""), '\n'))
    if (!l.empty()) out.push_back(static_cast<pid_t>(atoi(l.c_str())));
  return out;
}

bool Cgroup::frozen() const {
  if (mode == CgroupMode::V2) return trim(read_file_or(dir("unified") + "/cgroup.freeze", "0")) == "1";
  return trim(read_file_or(dir("freezer") + "/freezer.state", "")) == "FROZEN";
}

bool Cgroup::freeze(bool on) const {
  if (mode == CgroupMode::V2) {
    std::string d = dir("unified");
    if (!wr(d, "cgroup.freeze", on ? "1" : "0")) return false;
    for (int i = 0; i < 2000; i++) {
      std::string ev = read_file_or(d + "/cgroup.events", "");
      if (ev.find(on ? "frozen 1" : "frozen 0") != std::string::npos) return true;
      sleep_ms(1);
    }
    return false;
  }
  std::string d = dir("freezer");
  if (d.empty()) return false;
  const char* want = on ? "FROZEN" : "THAWED";
  for (int i = 0; i < 2000; i++) {
    if (!wr(d, "freezer.state", want)) return false;
    if (trim(read_file_or(d + "/freezer.state", "")) == want) return true;
    sleep_ms(1);
  }
  return false;
}

long Cgroup::oom_kills() const {
  std::string text;
  if (mode == CgroupMode::V2) text = read_file_or(dir("unified") + "/memory.events", "");
  else if (!dir("memory").empty()) text = read_file_or(dir("memory") + "/memory.oom_control", "");
  auto p = text.find("oom_kill ");
  if (p == std::string::npos) return 0;
  return atol(text.c_str() + p + 9);
}

static uint64_t num_in(const std::string& text, const std::string& key) {
  size_t p = 0;
  while ((p = text.find(key, p)) != std::string::npos) {
    if ((p == 0 || text[p - 1] == '\n') && p + key.size() < text.size() && text[p + key.size()] == ' ')
      return strtoull(text.c_str() + p + key.size() + 1, nullptr, 10);
    p += key.size();
  }
  return 0;
}

static uint64_t num_file(const std::string& path) {
  std::string s = trim(read_file_or(path, "0"));
  if (s == "max") return 0;
  return strtoull(s.c_str(), nullptr, 10);
}

std::string Cgroup::stats_json() const {
  uint64_t mu = 0, ml = 0, mm = 0, mf = 0, cu = 0, cus = 0, csy = 0, per = 0, thr = 0, thrns = 0, pc = 0, pl = 0;
  if (mode == CgroupMode::V2) {
    std::string d = dir("unified");
    mu = num_file(d + "/memory.current");
    ml = num_file(d + "/memory.max");
    mm = num_file(d + "/memory.peak");
    mf = num_in(read_file_or(d + "/memory.events", ""), "max");
    std::string cs = read_file_or(d + "/cpu.stat", "");
    cu = num_in(cs, "usage_usec") * 1000;
    cus = num_in(cs, "user_usec") * 1000;
    csy = num_in(cs, "system_usec") * 1000;
    per = num_in(cs, "nr_periods");
    thr = num_in(cs, "nr_throttled");
    thrns = num_in(cs, "throttled_usec") * 1000;
    pc = num_file(d + "/pids.current");
    pl = num_file(d + "/pids.max");
  } else {
    std::string m = dir("memory");
    if (!m.empty()) {
      mu = num_file(m + "/memory.usage_in_bytes");
      ml = num_file(m + "/memory.limit_in_bytes");
      mm = num_file(m + "/memory.max_usage_in_bytes");
      mf = num_file(m + "/memory.failcnt");
    }
    std::string a = dir("cpuacct");
    if (!a.empty()) {
      cu = num_file(a + "/cpuacct.usage");
      std::string st = read_file_or(a + "/cpuacct.stat", "");
      long hz = sysconf(_SC_CLK_TCK);
      cus = num_in(st, "user") * (1000000000ULL / static_cast<uint64_t>(hz));
      csy = num_in(st, "system") * (1000000000ULL / static_cast<uint64_t>(hz));
    }
    std::string c = dir("cpu");
    if (!c.empty()) {
      std::string cs = read_file_or(c + "/cpu.stat", "");
      per = num_in(cs, "nr_periods");
      thr = num_in(cs, "nr_throttled");
      thrns = num_in(cs, "throttled_time");
    }
    std::string p = dir("pids");
    if (!p.empty()) {
      pc = num_file(p + "/pids.current");
      pl = num_file(p + "/pids.max");
    }
  }
  char buf[640];
  snprintf(buf, sizeof buf,
           "\"memory\":{\"usage\":%llu,\"limit\":%llu,\"maxUsage\":%llu,\"failcnt\":%llu},"
           "\"cpu\":{\"usageNs\":%llu,\"userNs\":%llu,\"systemNs\":%llu,\"periods\":%llu,\"throttledPeriods\":%llu,"
           "\"throttledNs\":%llu},\"pids\":{\"current\":%llu,\"limit\":%llu}",
           (unsigned long long)mu, (unsigned long long)ml, (unsigned long long)mm, (unsigned long long)mf,
           (unsigned long long)cu, (unsigned long long)cus, (unsigned long long)csy, (unsigned long long)per,
           (unsigned long long)thr, (unsigned long long)thrns, (unsigned long long)pc, (unsigned long long)pl);
  return buf;
}

void Cgroup::destroy() const {
  if (frozen()) freeze(false);
  std::set<std::string> dirs;
  for (auto& [c, d] : paths) dirs.insert(d);
  for (int attempt = 0; attempt < 200 && !dirs.empty(); attempt++) {
    for (auto it = dirs.begin(); it != dirs.end();) {
      if (rmdir(it->c_str()) == 0 || errno == ENOENT) {
        it = dirs.erase(it);
        continue;
      }
      if (errno == EBUSY) {
        for (auto& l : split(read_file_or(*it + "/cgroup.procs", ""), '\n'))
          if (!l.empty()) kill(atoi(l.c_str()), SIGKILL);
      }
      ++it;
    }
    if (!dirs.empty()) sleep_ms(attempt < 20 ? 1 : 10);
  }
}

}  // namespace shoal
