#include "seccomp_filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

namespace shoal {

namespace {

std::string compile(const SeccompSpec& spec) {
  scmp_filter_ctx ctx = seccomp_init(spec.default_action);
  if (!ctx) throw Fail("seccomp: cannot initialise filter");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  // no_new_privs is the process object's decision, not libseccomp's.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  // A binary search over syscall numbers instead of ~400 linear comparisons on every syscall.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (uint32_t a : spec.arches) {
    int rc = seccomp_arch_add(ctx, a);
    if (rc < 0 && rc != -EEXIST) fail_errno("seccomp: add architecture", -rc);
  }
  for (auto& r : spec.rules) {
    if (r.action == spec.default_action) continue;  // libseccomp refuses rules that repeat the default
    scmp_arg_cmp cmps[6];
    unsigned n = 0;
    for (auto& a : r.args) {
      if (n == 6) break;
      cmps[n++] = scmp_arg_cmp{a.index, static_cast<scmp_compare>(a.op), a.value, a.value_two};
    }
    for (auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown on this kernel/arch: skipped, as runc does
      int rc = seccomp_rule_add_array(ctx, r.action, nr, n, n ? cmps : nullptr);
      if (rc < 0 && rc != -EEXIST) fail_errno("seccomp: rule for syscall \"" + name + "\"", -rc);
    }
  }
  int mfd = static_cast<int>(syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC));
  if (mfd < 0) fail_errno("seccomp: memfd");
  int rc = seccomp_export_bpf(ctx, mfd);
  if (rc < 0) {
    close(mfd);
    fail_errno("seccomp: export filter", -rc);
  }
  std::string out;
  char buf[8192];
  ssize_t n;
  lseek(mfd, 0, SEEK_SET);
  while ((n = read(mfd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(mfd);
  if (out.empty() || out.size() % sizeof(sock_filter)) throw Fail("seccomp: empty filter program");
  return out;
}

std::string profile_key(const SeccompSpec& s) {
  std::string k = std::to_string(s.default_action) + ";";
  for (auto a : s.arches) k += std::to_string(a) + ",";
  for (auto& r : s.rules) {
    k += ";" + std::to_string(r.action) + ":";
    for (auto& n : r.names) k += n + ",";
    for (auto& a : r.args)
      k += "/" + std::to_string(a.index) + "." + std::to_string(a.op) + "." + std::to_string(a.value) + "." +
           std::to_string(a.value_two);
  }
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : k) h = (h ^ c) * 1099511628211ULL;
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx-%zx", (unsigned long long)h, k.size());
  return buf;
}

}  // namespace

std::string seccomp_program(const SeccompSpec& spec, const std::string& cache_dir) {
  std::string path;
  if (!cache_dir.empty()) {
    path = cache_dir + "/" + profile_key(spec) + "-opt2-" + std::to_string(SCMP_VER_MAJOR) + "." + std::to_string(SCMP_VER_MINOR) + ".bpf";
    std::string cached;
    if (read_file(path, cached) && !cached.empty() && cached.size() % sizeof(sock_filter) == 0) return cached;
  }
  std::string prog = compile(spec);
  if (!path.empty()) {
    try {
      mkdir_p(cache_dir, 0700);
      std::string tmp = path + "." + std::to_string(getpid());
      write_file(tmp, prog);
      if (rename(tmp.c_str(), path.c_str()) < 0) unlink(tmp.c_str());
    } catch (...) {
      // the cache is an optimisation only
    }
  }
  return prog;
}

void seccomp_install(const std::string& program) {
  sock_fprog prog{static_cast<unsigned short>(program.size() / sizeof(sock_filter)),
                  reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()))};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail_errno("seccomp: load filter");
}

}  // namespace shoal
