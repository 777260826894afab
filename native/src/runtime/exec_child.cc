#include "exec_child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "channel.h"
#include "process.h"
#include "seccomp_filter.h"
#include "util.h"

namespace shoal {

void exec_child(ExecPlan& plan) {
  int sync = plan.sync;
  try {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    for (auto& f : plan.cgroup_procs) {
      int err = 0;
      if (!try_write_file(f, "0", &err)) fail_errno("join cgroup " + f, err);
    }

    // user first (the others are joined with its privileges); pid only applies to our children.
    static const struct {
      const char* name;
      int flag;
    } kNs[] = {{"user", CLONE_NEWUSER},     {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
               {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
    constexpr int kCount = sizeof kNs / sizeof kNs[0];
    std::string base = "/proc/" + std::to_string(plan.init_pid) + "/ns/";
    int fds[kCount];
    bool joined_user = false;
    for (int i = 0; i < kCount; i++) {
      fds[i] = -1;
      struct stat mine, theirs;
      std::string self = std::string("/proc/self/ns/") + kNs[i].name;
      if (stat((base + kNs[i].name).c_str(), &theirs) < 0) fail_errno("container namespace " + std::string(kNs[i].name));
      if (stat(self.c_str(), &mine) == 0 && mine.st_ino == theirs.st_ino) continue;
      fds[i] = open((base + kNs[i].name).c_str(), O_RDONLY | O_CLOEXEC);
      if (fds[i] < 0) fail_errno("open container namespace " + std::string(kNs[i].name));
    }
    for (int i = 0; i < kCount; i++) {
      if (fds[i] < 0) continue;
      if (setns(fds[i], kNs[i].flag) < 0) fail_errno("join container namespace " + std::string(kNs[i].name));
      if (kNs[i].flag == CLONE_NEWUSER) joined_user = true;
      close(fds[i]);
    }
    if (joined_user && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) fail_errno("become root in the user namespace");
    // The process itself is a clone born in the container's pid namespace (we stay outside it,
    // so nothing there ever sees a process of ours before this point) and, through
    // CLONE_PARENT, a child of the monitor, which reaps it. We report its pid and are done.
    pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, nullptr));
    if (pid < 0) fail_errno("create the exec process (clone)");
    if (pid > 0) {
      chan_send(sync, 'P', std::to_string(pid));
      _exit(0);
    }
    if (chdir("/") < 0) fail_errno("chdir /");
    Process& p = plan.process;
    if (!plan.user.empty()) resolve_user(p, plan.user);
    ensure_home(p);
    if (chdir(p.cwd.c_str()) < 0) fail_errno("chdir " + p.cwd);
    std::string path = find_executable(p);
    if (p.terminal) {
      std::string slave_path;
      int slave = -1;
      int master = open_pty(slave_path, slave);
      set_winsize(master, p.height, p.width);
      if (fchown(slave, p.uid, 5) < 0) fchown(slave, p.uid, p.gid);
      chan_send(sync, 'T', "", master);
      close(master);
      become_tty(slave);
    } else {
      setsid();
      for (int i = 0; i < 3; i++)
        if (plan.stdio[i] >= 0 && dup2(plan.stdio[i], i) < 0) fail_errno("set up stdio");
    }
    for (int i = 0; i < 3; i++)
      if (plan.stdio[i] > 2) close(plan.stdio[i]);
    apply_limits(p);
    finalize_and_exec(p, plan.spec->seccomp_bpf, path);
  } catch (const Fail& f) {
    chan_fail(sync, f.what(), 126);
  } catch (const std::exception& e) {
    chan_fail(sync, std::string("exec: ") + e.what(), 126);
  }
}

}  // namespace shoal
