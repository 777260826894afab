// posix_spawn + wait with captured output; runs on a libuv worker thread.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>

#include "../../include/shoal_native.h"
#include "../runtime/sealed_exe.h"

extern char** environ;

namespace shoal_native {

namespace {

// The runtime is spawned from a sealed memfd copy (see runtime/sealed_exe.h), made once per
// process and file version and shared by every call: a `create` then starts out sealed (no copy
// of its own, no re-exec), and its monitor keeps this same copy for exec-helper, so containers
// cost no memory for it.
struct SealedRuntime {
  std::mutex mu;
  std::string path;
  struct stat st {};
  int fd = -1;
} g_sealed;

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// A close-on-exec fd of the sealed copy of `path` (made now if the file is new or changed), or -1
// when none can be made: then the runtime starts from its file and seals itself where needed.
int sealed_runtime(const std::string& path) {
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  struct stat st;
  int fd = -1;
  if (fstat(src, &st) == 0) {
    std::lock_guard<std::mutex> lock(g_sealed.mu);
    if (g_sealed.fd < 0 || g_sealed.path != path || !same_file(g_sealed.st, st)) {
      int copy = shoal::sealed_copy(src, "shoal-runtime");
      if (copy >= 0) {
        if (g_sealed.fd >= 0) close(g_sealed.fd);  // spawns in flight hold their own dup
        g_sealed.fd = copy, g_sealed.path = path, g_sealed.st = st;
      }
    }
    if (g_sealed.fd >= 0 && g_sealed.path == path) fd = fcntl(g_sealed.fd, F_DUPFD_CLOEXEC, 3);
  }
  close(src);
  return fd;
}

}  // namespace

SpawnResult spawn_and_wait(const std::string& path, const std::vector<std::string>& args) {
  SpawnResult r;
  // From the sealed copy when there is one; the runtime learns its host path from the env.
  int exe = sealed_runtime(path);
  char real[PATH_MAX];
  std::string exe_path = path, path_env;
  if (exe >= 0 && realpath(path.c_str(), real)) {
    exe_path = "/proc/self/fd/" + std::to_string(exe);
    path_env = std::string(shoal::kRuntimePathEnv) + "=" + real;
  }
  std::vector<char*> envp;
  std::string prefix = std::string(shoal::kRuntimePathEnv) + "=";
  for (char** e = environ; *e; e++)
    if (strncmp(*e, prefix.c_str(), prefix.size()) != 0) envp.push_back(*e);
  if (!path_env.empty()) envp.push_back(const_cast<char*>(path_env.c_str()));
  envp.push_back(nullptr);
  struct CloseExe {
    int fd;
    ~CloseExe() {
      if (fd >= 0) close(fd);
    }
  } close_exe{exe};
  // Output goes to memory files read after the exit, not to pipes read to EOF: a runtime verb
  // may leave a process holding its stdio (runc's create without --log-path gives the container
  // the caller's stdio), and the call must end when the runtime does.
  int out = memfd_create("runtime-stdout", MFD_CLOEXEC);
  int err = memfd_create("runtime-stderr", MFD_CLOEXEC);
  if (out < 0 || err < 0) {
    r.spawn_error = strerror(errno);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The runtime must not inherit Node's signal mask or handlers.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("shoal-runtime"));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, exe_path.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    r.spawn_error = "spawn " + path + ": " + strerror(rc);
    close(out);
    close(err);
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  char buf[8192];
  for (int fd : {out, err}) {
    off_t off = 0;
    for (;;) {
      ssize_t n = pread(fd, buf, sizeof buf, off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      (fd == out ? r.out : r.err).append(buf, static_cast<size_t>(n));
      off += n;
    }
    close(fd);
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Probe probe() {
  Probe p;
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) == 0 && static_cast<unsigned long>(sf.f_type) == 0x63677270UL) {
    p.cgroup = "v2";
  } else if (statfs("/sys/fs/cgroup/unified", &sf) == 0 && static_cast<unsigned long>(sf.f_type) == 0x63677270UL) {
    p.cgroup = "hybrid";
  } else {
    p.cgroup = "v1";
  }
  std::ifstream fs("/proc/filesystems");
  std::string line;
  while (std::getline(fs, line))
    if (line.find("overlay") != std::string::npos) p.overlay = true;
  std::ifstream st("/proc/self/status");
  while (std::getline(st, line))
    if (line.rfind("Seccomp:", 0) == 0) p.seccomp = true;
  return p;
}

}  // namespace shoal_native
