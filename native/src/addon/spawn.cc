// posix_spawn + wait with captured output; runs on a libuv worker thread.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "../../include/shoal_native.h"

extern char** environ;

namespace shoal_native {

SpawnResult spawn_and_wait(const std::string& path, const std::vector<std::string>& args) {
  SpawnResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) {
    r.spawn_error = strerror(errno);
    return r;
  }
  if (pipe2(err, O_CLOEXEC) < 0) {
    r.spawn_error = strerror(errno);
    close(out[0]), close(out[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
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
  int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    r.spawn_error = "spawn " + path + ": " + strerror(rc);
    close(out[0]);
    close(err[0]);
    return r;
  }
  pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_count = 2;
  char buf[8192];
  while (open_count > 0) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(p[i].fd);
        p[i].fd = -1;
        open_count--;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
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
