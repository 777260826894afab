#include "spec.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "cgroups.h"
#include "util.h"

using json = nlohmann::json;

namespace shoal {

bool Spec::has_ns(int flag) const { return ns(flag) != nullptr; }
const Namespace* Spec::ns(int flag) const {
  for (auto& n : namespaces)
    if (n.flag == flag) return &n;
  return nullptr;
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Fail("invalid config.json: " + field + ": " + why);
}

const json* get(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string str(const json& o, const char* key, const std::string& field, const std::string& dflt = "") {
  const json* v = get(o, key);
  if (!v) return dflt;
  if (!v->is_string()) bad(field + "." + key, "must be a string");
  return v->get<std::string>();
}

bool boolean(const json& o, const char* key, const std::string& field) {
  const json* v = get(o, key);
  if (!v) return false;
  if (!v->is_boolean()) bad(field + "." + key, "must be true or false");
  return v->get<bool>();
}

int64_t integer(const json& v, const std::string& field) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return INT64_MAX;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  bad(field, "must be an integer");
}

uint64_t unsig(const json& v, const std::string& field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  int64_t i = integer(v, field);
  if (i < 0) bad(field, "must not be negative");
  return static_cast<uint64_t>(i);
}

std::vector<std::string> strings(const json& o, const char* key, const std::string& field) {
  std::vector<std::string> out;
  const json* v = get(o, key);
  if (!v) return out;
  if (!v->is_array()) bad(field + "." + key, "must be an array of strings");
  for (auto& e : *v) {
    if (!e.is_string()) bad(field + "." + key, "must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

int rlimit_from_name(const std::string& n, const std::string& field) {
  static const struct {
    const char* name;
    int res;
  } kR[] = {{"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_DATA", RLIMIT_DATA},
            {"RLIMIT_STACK", RLIMIT_STACK},     {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_RSS", RLIMIT_RSS},
            {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
            {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_LOCKS", RLIMIT_LOCKS},   {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
            {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},   {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
            {"RLIMIT_RTTIME", RLIMIT_RTTIME}};
  for (auto& r : kR)
    if (n == r.name) return r.res;
  bad(field, "unknown rlimit \"" + n + "\"");
}

uint32_t seccomp_action(const std::string& a, const json* errno_ret, uint32_t default_errno, const std::string& field) {
  if (a == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (a == "SCMP_ACT_ERRNO") {
    uint32_t e = errno_ret ? static_cast<uint32_t>(unsig(*errno_ret, field + ".errnoRet")) : default_errno;
    return SCMP_ACT_ERRNO(e);
  }
  if (a == "SCMP_ACT_KILL" || a == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (a == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (a == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (a == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (a == "SCMP_ACT_TRACE") {
    uint32_t e = errno_ret ? static_cast<uint32_t>(unsig(*errno_ret, field + ".errnoRet")) : default_errno;
    return SCMP_ACT_TRACE(e);
  }
  bad(field + ".action", "unknown seccomp action \"" + a + "\"");
}

SeccompSpec parse_seccomp(const json& s) {
  const std::string f = "linux.seccomp";
  SeccompSpec out;
  uint32_t default_errno = 1;  // EPERM
  if (const json* d = get(s, "defaultErrnoRet")) default_errno = static_cast<uint32_t>(unsig(*d, f + ".defaultErrnoRet"));
  std::string da = str(s, "defaultAction", f);
  if (da.empty()) bad(f + ".defaultAction", "is required");
  out.default_action = seccomp_action(da, get(s, "defaultErrnoRet"), default_errno, f);
  for (auto& a : strings(s, "architectures", f)) {
    static const struct {
      const char* n;
      uint32_t v;
    } kA[] = {{"SCMP_ARCH_X86", SCMP_ARCH_X86},   {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64}, {"SCMP_ARCH_X32", SCMP_ARCH_X32},
              {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},   {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}};
    bool found = false;
    for (auto& k : kA)
      if (a == k.n) {
        out.arches.push_back(k.v);
        found = true;
      }
    if (!found) bad(f + ".architectures", "unknown architecture \"" + a + "\"");
  }
  if (const json* sc = get(s, "syscalls")) {
    if (!sc->is_array()) bad(f + ".syscalls", "must be an array");
    size_t i = 0;
    for (auto& r : *sc) {
      std::string rf = f + ".syscalls[" + std::to_string(i++) + "]";
      SeccompRule rule;
      rule.names = strings(r, "names", rf);
      if (rule.names.empty()) {
        std::string single = str(r, "name", rf);
        if (single.empty()) bad(rf + ".names", "is required");
        rule.names.push_back(single);
      }
      rule.action = seccomp_action(str(r, "action", rf), get(r, "errnoRet"), default_errno, rf);
      if (const json* args = get(r, "args")) {
        if (!args->is_array()) bad(rf + ".args", "must be an array");
        for (auto& a : *args) {
          SeccompArg sa{};
          sa.index = static_cast<unsigned>(unsig(a.value("index", json(0)), rf + ".args.index"));
          if (sa.index > 5) bad(rf + ".args.index", "must be 0..5");
          sa.value = unsig(a.value("value", json(0)), rf + ".args.value");
          sa.value_two = unsig(a.value("valueTwo", json(0)), rf + ".args.valueTwo");
          std::string op = str(a, "op", rf + ".args");
          static const struct {
            const char* n;
            int v;
          } kOps[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
                      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
                      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
          sa.op = 0;
          for (auto& k : kOps)
            if (op == k.n) sa.op = k.v;
          if (!sa.op) bad(rf + ".args.op", "unknown operator \"" + op + "\"");
          rule.args.push_back(sa);
        }
      }
      out.rules.push_back(std::move(rule));
    }
  }
  return out;
}

Process process_from(const json& p, const std::string& f) {
  Process out;
  if (!p.is_object()) bad(f, "must be an object");
  out.terminal = boolean(p, "terminal", f);
  if (const json* cs = get(p, "consoleSize")) {
    out.height = static_cast<unsigned short>(unsig(cs->value("height", json(0)), f + ".consoleSize.height"));
    out.width = static_cast<unsigned short>(unsig(cs->value("width", json(0)), f + ".consoleSize.width"));
  }
  if (const json* u = get(p, "user")) {
    if (const json* v = get(*u, "uid")) out.uid = static_cast<uid_t>(unsig(*v, f + ".user.uid"));
    if (const json* v = get(*u, "gid")) out.gid = static_cast<gid_t>(unsig(*v, f + ".user.gid"));
    if (const json* v = get(*u, "umask")) out.umask = static_cast<mode_t>(unsig(*v, f + ".user.umask"));
    if (const json* v = get(*u, "additionalGids")) {
      if (!v->is_array()) bad(f + ".user.additionalGids", "must be an array of numbers");
      for (auto& g : *v) out.additional_gids.push_back(static_cast<gid_t>(unsig(g, f + ".user.additionalGids")));
    }
  }
  out.args = strings(p, "args", f);
  if (out.args.empty()) bad(f + ".args", "must name a command");
  out.env = strings(p, "env", f);
  for (auto& e : out.env)
    if (e.find('=') == std::string::npos) bad(f + ".env", "entry \"" + e + "\" is not KEY=VALUE");
  out.cwd = str(p, "cwd", f, "/");
  if (out.cwd.empty() || out.cwd[0] != '/') bad(f + ".cwd", "must be an absolute path");
  if (const json* c = get(p, "capabilities")) {
    out.has_caps = true;
    out.caps.bounding = caps_from_names(strings(*c, "bounding", f + ".capabilities"));
    out.caps.effective = caps_from_names(strings(*c, "effective", f + ".capabilities"));
    out.caps.inheritable = caps_from_names(strings(*c, "inheritable", f + ".capabilities"));
    out.caps.permitted = caps_from_names(strings(*c, "permitted", f + ".capabilities"));
    out.caps.ambient = caps_from_names(strings(*c, "ambient", f + ".capabilities"));
  }
  if (const json* rl = get(p, "rlimits")) {
    if (!rl->is_array()) bad(f + ".rlimits", "must be an array");
    for (auto& r : *rl) {
      Rlimit x;
      x.resource = rlimit_from_name(str(r, "type", f + ".rlimits"), f + ".rlimits.type");
      x.soft = unsig(r.value("soft", json(0)), f + ".rlimits.soft");
      x.hard = unsig(r.value("hard", json(0)), f + ".rlimits.hard");
      if (x.soft > x.hard) bad(f + ".rlimits", "soft limit above hard limit");
      out.rlimits.push_back(x);
    }
  }
  out.no_new_privileges = boolean(p, "noNewPrivileges", f);
  if (const json* o = get(p, "oomScoreAdj")) out.oom_score_adj = static_cast<int>(integer(*o, f + ".oomScoreAdj"));
  return out;
}

}  // namespace

void parse_mount_options(const std::vector<std::string>& opts, Mount& m) {
  static const struct {
    const char* name;
    bool clear;
    unsigned long flag;
  } kFlags[] = {
      {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},          {"nosuid", false, MS_NOSUID},
      {"suid", true, MS_NOSUID},        {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
      {"noexec", false, MS_NOEXEC},     {"exec", true, MS_NOEXEC},        {"sync", false, MS_SYNCHRONOUS},
      {"async", true, MS_SYNCHRONOUS},  {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
      {"mand", false, MS_MANDLOCK},     {"nomand", true, MS_MANDLOCK},    {"atime", true, MS_NOATIME},
      {"noatime", false, MS_NOATIME},   {"diratime", true, MS_NODIRATIME}, {"nodiratime", false, MS_NODIRATIME},
      {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
      {"nostrictatime", true, MS_STRICTATIME},
  };
  static const struct {
    const char* name;
    unsigned long flag;
  } kProp[] = {{"private", MS_PRIVATE},
               {"rprivate", MS_PRIVATE | MS_REC},
               {"shared", MS_SHARED},
               {"rshared", MS_SHARED | MS_REC},
               {"slave", MS_SLAVE},
               {"rslave", MS_SLAVE | MS_REC},
               {"unbindable", MS_UNBINDABLE},
               {"runbindable", MS_UNBINDABLE | MS_REC}};
  for (auto& o : opts) {
    if (o == "bind") {
      m.bind = true;
      continue;
    }
    if (o == "rbind") {
      m.bind = m.recursive = true;
      continue;
    }
    if (o == "tmpcopyup" || o == "rro" || o == "idmap" || o == "ridmap") continue;
    bool done = false;
    for (auto& f : kFlags)
      if (o == f.name) {
        if (f.clear) m.flags &= ~f.flag;
        else m.flags |= f.flag;
        done = true;
      }
    for (auto& p : kProp)
      if (o == p.name) {
        m.propagation = p.flag;
        done = true;
      }
    if (done) continue;
    if (!m.data.empty()) m.data += ",";
    m.data += o;
  }
}

Process parse_process(const std::string& text, const std::string& where) {
  json p = json::parse(text, nullptr, false);
  if (p.is_discarded()) throw Fail(where + ": not valid JSON");
  try {
    return process_from(p, where);
  } catch (const Fail& e) {
    std::string m = e.what();
    const std::string pre = "invalid config.json: ";
    if (starts_with(m, pre)) m = "invalid " + m.substr(pre.size());
    throw Fail(m);
  }
}

std::optional<SeccompSpec> load_seccomp(const std::string& bundle) {
  std::string text;
  if (!read_file(bundle + "/config.json", text)) fail_errno("open " + bundle + "/config.json");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Fail("invalid config.json: not a JSON object");
  const json* lx = get(j, "linux");
  const json* sc = lx ? get(*lx, "seccomp") : nullptr;
  if (!sc) return std::nullopt;
  return parse_seccomp(*sc);
}

// linux.resources (also what `update --resources` reads); errors name the field under `f`.
static Resources parse_resources(const json& rj, const std::string& f) {
  const json* r = &rj;
  Resources res;
  if (const json* m = get(*r, "memory")) {
    if (const json* v = get(*m, "limit")) {
      int64_t l = integer(*v, f + ".memory.limit");
      if (l < -1 || l == 0) bad(f + ".memory.limit", "must be a positive number of bytes (or -1)");
      if (l > 0) res.memory_limit = l;
    }
    if (const json* v = get(*m, "reservation")) {
      int64_t l = integer(*v, f + ".memory.reservation");
      if (l < -1) bad(f + ".memory.reservation", "must not be negative");
      if (l > 0) res.memory_reservation = l;
    }
    if (const json* v = get(*m, "swap")) {
      int64_t l = integer(*v, f + ".memory.swap");
      if (l < -1 || l == 0) bad(f + ".memory.swap", "must be a positive number of bytes (or -1)");
      res.memory_swap = l;
    }
    if (res.memory_swap && *res.memory_swap > 0 && res.memory_limit &&
        *res.memory_swap < *res.memory_limit)
      bad(f + ".memory.swap", "must not be below memory.limit (it is memory plus swap)");
    res.disable_oom_killer = boolean(*m, "disableOOMKiller", f + ".memory");
    if (const json* v = get(*m, "swappiness")) {
      // Docker writes -1 (as unsigned: 2^64-1) for "unset"
      if (!(v->is_number_integer() && v->get<int64_t>() == -1) && !(v->is_number_unsigned() && v->get<uint64_t>() == UINT64_MAX)) {
        uint64_t sw = unsig(*v, f + ".memory.swappiness");
        if (sw > 100) bad(f + ".memory.swappiness", "must be between 0 and 100");
        res.memory_swappiness = sw;
      }
    }
    for (const char* k : {"kernel", "kernelTCP"})
      if (const json* v = get(*m, k); v && integer(*v, f + ".memory." + k) != 0)
        bad(f + ".memory." + k, "kernel memory limits are not supported (deprecated by the kernel)");
  }
  if (const json* b = get(*r, "blockIO")) {
    std::string bf = f + ".blockIO";
    if (const json* v = get(*b, "weight")) {
      uint64_t w = unsig(*v, bf + ".weight");
      if (w != 0 && (w < 10 || w > 1000)) bad(bf + ".weight", "must be between 10 and 1000");
      if (w) res.blkio_weight = w;
    }
    if (const json* v = get(*b, "leafWeight"); v && unsig(*v, bf + ".leafWeight") != 0)
      bad(bf + ".leafWeight", "is not supported (CFQ's leaf weight is gone from current kernels)");
    auto devs = [&](const char* key, const char* val, std::vector<BlkioDevice>& out) {
      const json* a = get(*b, key);
      if (!a) return;
      if (!a->is_array()) bad(bf + "." + key, "must be an array");
      for (auto& e : *a) {
        std::string ef = bf + "." + key;
        BlkioDevice d;
        const json* mj = get(e, "major");
        const json* nj = get(e, "minor");
        if (!mj || !nj) bad(ef, "major and minor are required");
        d.major = integer(*mj, ef + ".major");
        d.minor = integer(*nj, ef + ".minor");
        if (d.major < 0 || d.minor < 0) bad(ef, "major and minor must not be negative");
        const json* vj = get(e, val);
        if (!vj) bad(ef + "." + val, "is required");
        d.value = unsig(*vj, ef + "." + val);
        if (std::string(val) == "weight" && (d.value < 10 || d.value > 1000)) bad(ef + ".weight", "must be between 10 and 1000");
        if (get(e, "leafWeight") && unsig(*get(e, "leafWeight"), ef + ".leafWeight") != 0)
          bad(ef + ".leafWeight", "is not supported (CFQ's leaf weight is gone from current kernels)");
        out.push_back(d);
      }
    };
    devs("weightDevice", "weight", res.blkio_weight_devices);
    devs("throttleReadBpsDevice", "rate", res.throttle_read_bps);
    devs("throttleWriteBpsDevice", "rate", res.throttle_write_bps);
    devs("throttleReadIOPSDevice", "rate", res.throttle_read_iops);
    devs("throttleWriteIOPSDevice", "rate", res.throttle_write_iops);
  }
  // Settings shoal-runtime does not apply are refused, never dropped: the reason names the field.
  if (const json* h = get(*r, "hugepageLimits"); h && !h->empty())
    bad(f + ".hugepageLimits", cgroup_controller_available("hugetlb")
                                   ? "hugetlb limits are not supported by shoal-runtime"
                                   : "the host has no hugetlb cgroup controller");
  if (const json* n = get(*r, "network"); n && (get(*n, "classID") || (get(*n, "priorities") && !get(*n, "priorities")->empty()))) {
    const char* ctl = get(*n, "classID") ? "net_cls" : "net_prio";
    bad(f + ".network", cgroup_controller_available(ctl) ? std::string("network classID/priorities are not supported by shoal-runtime")
                                                         : std::string("the host has no ") + ctl + " cgroup controller");
  }
  if (const json* x = get(*r, "rdma"); x && !x->empty()) bad(f + ".rdma", "rdma limits are not supported by shoal-runtime");
  if (const json* x = get(*r, "unified"); x && !x->empty()) bad(f + ".unified", "raw cgroup v2 files are not supported by shoal-runtime");
  if (const json* c = get(*r, "cpu")) {
    if (const json* v = get(*c, "shares")) {
      uint64_t sh = unsig(*v, f + ".cpu.shares");
      if (sh) res.cpu_shares = sh < 2 ? 2 : (sh > 262144 ? 262144 : sh);
    }
    if (const json* v = get(*c, "quota")) {
      int64_t q = integer(*v, f + ".cpu.quota");
      if (q != -1 && q < 1000) bad(f + ".cpu.quota", "must be at least 1000 (microseconds) or -1");
      res.cpu_quota = q;
    }
    if (const json* v = get(*c, "period")) {
      uint64_t p = unsig(*v, f + ".cpu.period");
      if (p < 1000 || p > 1000000) bad(f + ".cpu.period", "must be between 1000 and 1000000 (microseconds)");
      res.cpu_period = p;
    }
    for (const char* k : {"realtimeRuntime", "realtimePeriod"})
      if (const json* v = get(*c, k); v && integer(*v, f + ".cpu." + k) != 0)
        bad(f + ".cpu." + k, "real-time scheduling limits are not supported by shoal-runtime");
    res.cpuset_cpus = str(*c, "cpus", f + ".cpu");
    res.cpuset_mems = str(*c, "mems", f + ".cpu");
    for (auto* set : {&res.cpuset_cpus, &res.cpuset_mems})
      for (char ch : *set)
        if (!isdigit(static_cast<unsigned char>(ch)) && ch != ',' && ch != '-')
          bad(f + (set == &res.cpuset_cpus ? ".cpu.cpus" : ".cpu.mems"), "must be a list like 0-2,4");
  }
  if (const json* p = get(*r, "pids")) {
    if (const json* v = get(*p, "limit")) {
      int64_t l = integer(*v, f + ".pids.limit");
      if (l > 0) res.pids_limit = l;
      if (l < 0) res.pids_limit = -1;  // unlimited ("max"): what `update --pids-limit -1` asks for
    }
  }
  if (const json* d = get(*r, "devices")) {
    if (!d->is_array()) bad(f + ".devices", "must be an array");
    res.has_devices = true;
    for (auto& e : *d) {
      DeviceRule dr;
      if (!get(e, "allow")) bad(f + ".devices.allow", "is required");
      dr.allow = boolean(e, "allow", f + ".devices");
      std::string t = str(e, "type", f + ".devices", "a");
      if (t != "a" && t != "c" && t != "b") bad(f + ".devices.type", "must be a, c or b");
      dr.type = t[0];
      if (const json* v = get(e, "major")) dr.major = integer(*v, f + ".devices.major");
      if (const json* v = get(e, "minor")) dr.minor = integer(*v, f + ".devices.minor");
      dr.access = str(e, "access", f + ".devices", "rwm");
      for (char ch : dr.access)
        if (ch != 'r' && ch != 'w' && ch != 'm') bad(f + ".devices.access", "must be made of r, w, m");
      res.devices.push_back(dr);
    }
  }
  return res;
}

Resources parse_resources_text(const std::string& json_text, const std::string& where) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad(where, "is not a JSON object");
  return parse_resources(j, where);
}

Spec load_spec(const std::string& bundle) {
  Spec s;
  s.bundle = bundle;
  std::string text;
  if (!read_file(bundle + "/config.json", text)) fail_errno("open " + bundle + "/config.json");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Fail("invalid config.json: not a JSON object");

  const json* proc = get(j, "process");
  if (!proc) bad("process", "is required");
  s.process = process_from(*proc, "process");

  // No LSM support: a label is refused (saying whether the host even has that LSM), never ignored.
  auto refuse_label = [](const std::string& field, const char* lsm, bool host_has) {
    bad(field, host_has ? std::string(lsm) + " labels are not supported by shoal-runtime"
                        : std::string("the host has no ") + lsm + " (labels cannot be applied)");
  };
  if (!str(*proc, "selinuxLabel", "process").empty()) refuse_label("process.selinuxLabel", "SELinux", path_exists("/sys/fs/selinux/enforce"));
  if (!str(*proc, "apparmorProfile", "process").empty())
    refuse_label("process.apparmorProfile", "AppArmor", trim(read_file_or("/sys/module/apparmor/parameters/enabled", "")) == "Y");
  if (const json* lx0 = get(j, "linux"); lx0 && !str(*lx0, "mountLabel", "linux").empty())
    refuse_label("linux.mountLabel", "SELinux", path_exists("/sys/fs/selinux/enforce"));

  const json* root = get(j, "root");
  if (!root) bad("root", "is required");
  s.root = str(*root, "path", "root");
  if (s.root.empty()) bad("root.path", "is required");
  if (s.root[0] != '/') s.root = bundle + "/" + s.root;
  s.root_readonly = boolean(*root, "readonly", "root");
  s.hostname = str(j, "hostname", "");
  s.domainname = str(j, "domainname", "");

  if (const json* ann = get(j, "annotations")) {
    if (!ann->is_object()) bad("annotations", "must be an object");
    for (auto& [k, v] : ann->items()) {
      if (!v.is_string()) bad("annotations." + k, "must be a string");
      s.annotations[k] = v.get<std::string>();
    }
  }
  if (auto it = s.annotations.find("org.shoal.rootfs.lowerdirs"); it != s.annotations.end() && !it->second.empty()) {
    s.lowerdirs = split(it->second, ':');
    auto ann = [&](const char* k) {
      auto f = s.annotations.find(k);
      return f == s.annotations.end() ? std::string() : f->second;
    };
    s.upperdir = ann("org.shoal.rootfs.upperdir");
    s.workdir = ann("org.shoal.rootfs.workdir");
    for (auto& l : s.lowerdirs)
      if (!is_dir(l)) throw Fail("rootfs layer " + l + ": no such directory");
    if (s.upperdir.empty() != s.workdir.empty())
      bad("annotations", "org.shoal.rootfs.upperdir and org.shoal.rootfs.workdir go together");
    if (!s.upperdir.empty() && !is_dir(s.upperdir)) throw Fail("rootfs upperdir " + s.upperdir + ": no such directory");
    if (!s.workdir.empty() && !is_dir(s.workdir)) throw Fail("rootfs workdir " + s.workdir + ": no such directory");
    if (!is_dir(s.root)) throw Fail("rootfs mount point " + s.root + ": no such directory");
  } else if (!is_dir(s.root)) {
    throw Fail("rootfs " + s.root + ": no such directory");
  }
  auto so = s.annotations.find("org.shoal.stdin-once");
  s.stdin_once = so != s.annotations.end() && so->second == "true";
  auto ua = s.annotations.find("org.shoal.user");
  if (ua != s.annotations.end()) s.process.user_name = ua->second;
  if (auto ia = s.annotations.find("org.shoal.init"); ia != s.annotations.end() && !ia->second.empty()) {
    if (ia->second[0] != '/') bad("annotations.org.shoal.init", "must be an absolute host path");
    s.init_path = ia->second;
  }

  if (const json* ms = get(j, "mounts")) {
    if (!ms->is_array()) bad("mounts", "must be an array");
    size_t i = 0;
    for (auto& mj : *ms) {
      std::string f = "mounts[" + std::to_string(i++) + "]";
      Mount m;
      m.destination = str(mj, "destination", f);
      if (m.destination.empty() || m.destination[0] != '/') bad(f + ".destination", "must be an absolute path");
      m.type = str(mj, "type", f);
      m.source = str(mj, "source", f);
      parse_mount_options(strings(mj, "options", f), m);
      if (m.type == "bind") m.bind = true;
      if (m.bind) {
        if (m.source.empty()) bad(f + ".source", "is required for a bind mount");
        if (m.source[0] != '/') m.source = bundle + "/" + m.source;
        if (!path_exists(m.source)) throw Fail("bind mount source " + m.source + ": no such file or directory");
      } else if (m.type.empty()) {
        bad(f + ".type", "is required");
      }
      s.mounts.push_back(std::move(m));
    }
  }

  if (const json* hk = get(j, "hooks")) {
    s.hooks_json = hk->dump();
    s.hooks = parse_hooks_text(s.hooks_json);
  }

  const json* lx = get(j, "linux");
  static const json empty = json::object();
  if (!lx) lx = &empty;
  if (const json* nss = get(*lx, "namespaces")) {
    if (!nss->is_array()) bad("linux.namespaces", "must be an array");
    for (auto& n : *nss) {
      std::string t = str(n, "type", "linux.namespaces");
      static const struct {
        const char* n;
        int f;
      } kNs[] = {{"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS}, {"ipc", CLONE_NEWIPC},
                 {"uts", CLONE_NEWUTS}, {"user", CLONE_NEWUSER},   {"cgroup", CLONE_NEWCGROUP}};
      int flag = 0;
      for (auto& k : kNs)
        if (t == k.n) flag = k.f;
      if (!flag) bad("linux.namespaces", "unknown namespace type \"" + t + "\"");
      Namespace ns{flag, str(n, "path", "linux.namespaces")};
      if (!ns.path.empty() && !path_exists(ns.path)) throw Fail("namespace path " + ns.path + ": no such file or directory");
      if (s.has_ns(flag)) bad("linux.namespaces", "duplicate namespace \"" + t + "\"");
      s.namespaces.push_back(ns);
    }
  }
  auto idmaps = [&](const char* key, std::vector<IdMap>& out) {
    if (const json* m = get(*lx, key)) {
      if (!m->is_array()) bad(std::string("linux.") + key, "must be an array");
      for (auto& e : *m) {
        std::string f = std::string("linux.") + key;
        IdMap im{static_cast<uint32_t>(unsig(e.value("containerID", json(0)), f + ".containerID")),
                 static_cast<uint32_t>(unsig(e.value("hostID", json(0)), f + ".hostID")),
                 static_cast<uint32_t>(unsig(e.value("size", json(0)), f + ".size"))};
        if (im.size == 0) bad(f + ".size", "must be positive");
        out.push_back(im);
      }
    }
  };
  idmaps("uidMappings", s.uid_maps);
  idmaps("gidMappings", s.gid_maps);
  if (s.has_ns(CLONE_NEWUSER) && s.ns(CLONE_NEWUSER)->path.empty() && (s.uid_maps.empty() || s.gid_maps.empty()))
    bad("linux.uidMappings", "a new user namespace needs uid and gid mappings");

  if (const json* ds = get(*lx, "devices")) {
    if (!ds->is_array()) bad("linux.devices", "must be an array");
    for (auto& d : *ds) {
      Device dv;
      std::string t = str(d, "type", "linux.devices");
      if (t.size() != 1 || std::string("cbup").find(t[0]) == std::string::npos)
        bad("linux.devices.type", "must be c, b, u or p");
      dv.type = t[0];
      dv.path = str(d, "path", "linux.devices");
      if (dv.path.empty() || dv.path[0] != '/') bad("linux.devices.path", "must be an absolute path");
      if (const json* v = get(d, "major")) dv.major = integer(*v, "linux.devices.major");
      if (const json* v = get(d, "minor")) dv.minor = integer(*v, "linux.devices.minor");
      if (const json* v = get(d, "fileMode")) dv.mode = static_cast<mode_t>(unsig(*v, "linux.devices.fileMode"));
      if (const json* v = get(d, "uid")) dv.uid = static_cast<uid_t>(unsig(*v, "linux.devices.uid"));
      if (const json* v = get(d, "gid")) dv.gid = static_cast<gid_t>(unsig(*v, "linux.devices.gid"));
      s.devices.push_back(dv);
    }
  }
  s.cgroups_path = str(*lx, "cgroupsPath", "linux");
  if (s.cgroups_path.find("..") != std::string::npos) bad("linux.cgroupsPath", "must not contain \"..\"");
  if (const json* r = get(*lx, "resources")) s.resources = parse_resources(*r, "linux.resources");
  if (const json* sc = get(*lx, "sysctl")) {
    if (!sc->is_object()) bad("linux.sysctl", "must be an object");
    for (auto& [k, v] : sc->items()) {
      if (!v.is_string()) bad("linux.sysctl." + k, "must be a string");
      if (k.find("..") != std::string::npos || k.find('/') != std::string::npos) bad("linux.sysctl", "bad key \"" + k + "\"");
      s.sysctl[k] = v.get<std::string>();
    }
  }
  if (const json* sc = get(*lx, "seccomp")) s.seccomp = parse_seccomp(*sc);
  s.masked_paths = strings(*lx, "maskedPaths", "linux");
  s.readonly_paths = strings(*lx, "readonlyPaths", "linux");
  std::string prop = str(*lx, "rootfsPropagation", "linux");
  if (!prop.empty()) {
    Mount tmp;
    parse_mount_options({prop}, tmp);
    if (!tmp.propagation) bad("linux.rootfsPropagation", "unknown propagation \"" + prop + "\"");
    s.rootfs_propagation = tmp.propagation;
  }
  // Without a mount namespace the process shares the host's mount table (the spec: it inherits
  // the runtime's): it is only chroot'ed into root.path. Anything that would mount there would
  // change the host for good (runc does it; we refuse).
  if (!s.has_ns(CLONE_NEWNS)) {
    auto refuse = [](const char* field) {
      bad(field, "needs a mount namespace (without one the container shares the host's mounts, which shoal-runtime does not change)");
    };
    if (!s.mounts.empty()) refuse("mounts");
    if (!s.masked_paths.empty()) refuse("linux.maskedPaths");
    if (!s.readonly_paths.empty()) refuse("linux.readonlyPaths");
    if (!s.devices.empty()) refuse("linux.devices");
    if (s.rootfs_propagation) refuse("linux.rootfsPropagation");
    if (s.root_readonly) refuse("root.readonly");
    if (!s.lowerdirs.empty()) refuse("annotations.org.shoal.rootfs.lowerdirs");
    if (s.process.terminal) refuse("process.terminal");
    if (!s.init_path.empty()) refuse("annotations.org.shoal.init");
  }
  return s;
}

}  // namespace shoal
