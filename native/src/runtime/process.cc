#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "sealed_exe.h"
#include "util.h"

extern char** environ;

namespace shoal {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string env_get(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (starts_with(e, key + "=")) return e.substr(key.size() + 1);
  return "";
}

}  // namespace

void resolve_user(Process& p, const std::string& spec) {
  if (spec.empty()) return;
  auto colon = spec.find(':');
  std::string u = spec.substr(0, colon), g = colon == std::string::npos ? "" : spec.substr(colon + 1);
  std::string passwd = read_file_or("/etc/passwd", ""), group = read_file_or("/etc/group", "");
  bool found = false;
  std::string name, home = "/";
  for (auto& line : split(passwd, '\n')) {
    auto f = split(line, ':');
    if (f.size() < 7) continue;
    if (f[0] == u || (all_digits(u) && f[2] == u)) {
      name = f[0];
      p.uid = static_cast<uid_t>(atol(f[2].c_str()));
      p.gid = static_cast<gid_t>(atol(f[3].c_str()));
      home = f[5];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!all_digits(u)) throw Fail("unable to find user " + u + ": no matching entries in passwd file");
    p.uid = static_cast<uid_t>(atol(u.c_str()));
    p.gid = 0;
  }
  if (!g.empty()) {
    bool gfound = false;
    for (auto& line : split(group, '\n')) {
      auto f = split(line, ':');
      if (f.size() < 3) continue;
      if (f[0] == g || (all_digits(g) && f[2] == g)) {
        p.gid = static_cast<gid_t>(atol(f[2].c_str()));
        gfound = true;
        break;
      }
    }
    if (!gfound) {
      if (!all_digits(g)) throw Fail("unable to find group " + g + ": no matching entries in group file");
      p.gid = static_cast<gid_t>(atol(g.c_str()));
    }
  }
  // Supplementary groups: every group listing the user by name, as Docker does.
  if (!name.empty()) {
    for (auto& line : split(group, '\n')) {
      auto f = split(line, ':');
      if (f.size() < 4) continue;
      for (auto& m : split(f[3], ','))
        if (m == name) {
          gid_t gid = static_cast<gid_t>(atol(f[2].c_str()));
          bool dup = gid == p.gid;
          for (gid_t x : p.additional_gids) dup = dup || x == gid;
          if (!dup) p.additional_gids.push_back(gid);
        }
    }
  }
  if (env_get(p.env, "HOME").empty()) p.env.push_back("HOME=" + home);
}

void ensure_home(Process& p) {
  if (!env_get(p.env, "HOME").empty()) return;
  for (auto& e : p.env)
    if (starts_with(e, "HOME=")) return;
  std::string home = "/";
  for (auto& line : split(read_file_or("/etc/passwd", ""), '\n')) {
    auto f = split(line, ':');
    if (f.size() >= 7 && f[2] == std::to_string(p.uid)) {
      home = f[5];
      break;
    }
  }
  p.env.push_back("HOME=" + home);
}

std::string find_executable(const Process& p) {
  const std::string& name = p.args[0];
  auto check = [](const std::string& path, int& err) {
    struct stat st;
    if (stat(path.c_str(), &st) < 0) {
      err = errno;
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      err = EISDIR;
      return false;
    }
    if (!(st.st_mode & 0111)) {
      err = EACCES;
      return false;
    }
    return true;
  };
  int err = 0;
  if (name.find('/') != std::string::npos) {
    if (!check(name, err)) throw Fail("exec \"" + name + "\": " + errno_text(err));
    return name;
  }
  std::string path = env_get(p.env, "PATH");
  if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (auto& dir : split(path, ':')) {
    std::string cand = (dir.empty() ? "." : dir) + "/" + name;
    if (check(cand, err)) return cand;
  }
  throw Fail("exec \"" + name + "\": executable file not found in $PATH");
}

void apply_limits(const Process& p) {
  for (auto& r : p.rlimits) {
    rlimit rl{r.soft, r.hard};
    if (setrlimit(r.resource, &rl) == 0) continue;
    rlimit cur{};
    // Without CAP_SYS_RESOURCE a hard limit cannot be raised: keep ours (the most we can give).
    if (errno == EPERM && getrlimit(r.resource, &cur) == 0 && r.hard > cur.rlim_max) {
      rl.rlim_max = cur.rlim_max;
      if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
      if (setrlimit(r.resource, &rl) == 0) continue;
    }
    fail_errno("set rlimit " + std::to_string(r.resource));
  }
  if (p.oom_score_adj) {
    if (!try_write_file("/proc/self/oom_score_adj", std::to_string(*p.oom_score_adj))) fail_errno("set oom_score_adj");
  }
}

void finalize_and_exec(const Process& p, const std::string& seccomp_bpf, const std::string& path, int run_fd) {
  if (p.has_caps) drop_bounding(p.caps);
  // Keep permitted capabilities across the uid change; capset decides the final sets.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail_errno("keep capabilities");
  std::vector<gid_t> groups(p.additional_gids);
  if (setgroups(groups.size(), groups.empty() ? nullptr : groups.data()) < 0) fail_errno("setgroups");
  if (setresgid(p.gid, p.gid, p.gid) < 0) fail_errno("setgid " + std::to_string(p.gid));
  if (setresuid(p.uid, p.uid, p.uid) < 0) fail_errno("setuid " + std::to_string(p.uid));
  if (chdir(p.cwd.c_str()) < 0) fail_errno("chdir " + p.cwd);
  const uint64_t sys_admin = 1ULL << 21;
  bool need_admin_for_seccomp = !seccomp_bpf.empty() && !p.no_new_privileges;
  if (p.has_caps) apply_caps(p.caps, need_admin_for_seccomp ? sys_admin : 0);
  if (p.umask) umask(*p.umask);
  if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail_errno("set no_new_privs");
  if (!seccomp_bpf.empty()) seccomp_install(seccomp_bpf);
  // Loading the filter without no_new_privs needed CAP_SYS_ADMIN; give it back now.
  if (p.has_caps && need_admin_for_seccomp && !(p.caps.permitted & sys_admin)) apply_caps(p.caps, 0);
  if (p.has_caps) raise_ambient(p.caps);

  std::vector<char*> argv, envp;
  for (auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  if (run_fd >= 0)
    exec_fd(run_fd, argv.data(), envp.data());
  else
    execve(path.c_str(), argv.data(), envp.data());
  fail_errno("exec \"" + p.args[0] + "\"");
}

}  // namespace shoal
