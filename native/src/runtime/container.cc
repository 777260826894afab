#include "container.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "channel.h"
#include "hooks.h"
#include "mounts.h"
#include "process.h"
#include "sealed_exe.h"
#include "seccomp_filter.h"
#include "util.h"

namespace shoal {

void loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail_errno("socket for loopback");
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
    int e = errno;
    close(s);
    fail_errno("bring up loopback", e);
  }
  close(s);
}

static void write_sysctls(const Spec& spec) {
  for (auto& [k, v] : spec.sysctl) {
    std::string path = "/proc/sys/" + k;
    for (auto& c : path)
      if (c == '.') c = '/';
    int err = 0;
    if (!try_write_file(path, v, &err)) fail_errno("sysctl " + k, err);
  }
}

// The init's command: the arguments after its first "--" (all but argv[0] without one).
static Process init_command(const Process& p) {
  Process cmd = p;
  auto dash = std::find(p.args.begin() + (p.args.empty() ? 0 : 1), p.args.end(), std::string("--"));
  cmd.args.assign(dash == p.args.end() ? p.args.begin() + (p.args.empty() ? 0 : 1) : dash + 1, p.args.end());
  if (cmd.args.empty()) throw Fail("--init needs a command after \"--\"");
  return cmd;
}

void container_init(InitPlan& plan) {
  Spec& spec = *plan.spec;
  int sync = plan.sync;
  try {
    // The monitor blocks these for its signalfd; the container starts with a clean mask.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    if (plan.close_fd >= 0) close(plan.close_fd);
    // If the monitor dies during setup, so does the half-made container. (In runc mode our parent
    // is the runtime command, which exits after create: the monitor's sync channel is the tie.)
    if (!plan.sibling) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() == 1) _exit(1);
    }

    char kind;
    std::string text;
    if (!chan_recv(sync, kind, text) || kind != 'G') _exit(1);

    for (int fd : plan.cgroup_fds) {
      if (write(fd, "0", 1) != 1) fail_errno("join the container's cgroup");
      close(fd);
    }
    // --init: the init is copied while the host's files are still reachable (before a mount namespace
    // is joined or the root pivoted) into a sealed memfd, charged to the container's cgroup. Run from
    // that copy it is not in the container's filesystem at all, and /proc/1/exe cannot be written: the
    // same stance as the runtime's own (CVE-2019-5736), stronger than docker's read-only bind mount,
    // which a container with CAP_SYS_ADMIN could remount writable.
    int init_fd = -1;
    if (!spec.init_path.empty() && (init_fd = sealed_copy_of(spec.init_path, "docker-init")) < 0)
      fail_errno("make a sealed copy of " + spec.init_path);
    for (auto& [fd, flag] : plan.join)
      if (setns(fd, flag) < 0) fail_errno("join namespace");
    bool joined_pid = false;
    for (auto& [fd, flag] : plan.join) close(fd), joined_pid = joined_pid || flag == CLONE_NEWPID;
    // setns(CLONE_NEWPID) moves only our future children: the container's process is a clone born
    // in the joined namespace and, through CLONE_PARENT, the monitor's child (its reaper). We
    // report its pid and go; the monitor reaps us.
    if (joined_pid) {
      pid_t child = static_cast<pid_t>(syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
      if (child < 0) fail_errno("create the container process in the joined pid namespace (clone)");
      if (child > 0) {
        chan_send(sync, 'P', std::to_string(child));
        _exit(0);
      }
      if (!plan.sibling) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(1);
      }
    }
    if (spec.has_ns(CLONE_NEWUSER)) {
      if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) fail_errno("become root in the user namespace");
    }
    trace("joined cgroups");
    if (plan.new_cgroupns && unshare(CLONE_NEWCGROUP) < 0) fail_errno("new cgroup namespace");
    const Namespace* net = spec.ns(CLONE_NEWNET);
    if (net && net->path.empty()) loopback_up();
    const Namespace* uts = spec.ns(CLONE_NEWUTS);
    if (!spec.hostname.empty()) {
      if (!uts) throw Fail("hostname needs a uts namespace");
      if (sethostname(spec.hostname.data(), spec.hostname.size()) < 0) fail_errno("sethostname");
    }

    if (getenv("SHOAL_TRACE")) trace_fd = open(getenv("SHOAL_TRACE"), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (!spec.domainname.empty()) {
      if (!uts) throw Fail("domainname needs a uts namespace");
      if (setdomainname(spec.domainname.data(), spec.domainname.size()) < 0) fail_errno("setdomainname");
    }
    bool own_mounts = spec.has_ns(CLONE_NEWNS);
    if (own_mounts) prepare_rootfs(spec);
    trace("rootfs prepared");
    // The environment exists: the monitor runs prestart and createRuntime hooks (runtime's
    // namespaces), then we run createContainer ones here, in the container's, before pivot_root.
    std::string hook_state;
    if (spec.hooks.any_before_start()) {
      if (!chan_send(sync, 'H')) _exit(1);
      if (!chan_recv(sync, kind, hook_state) || kind != 'h') _exit(1);
      run_hooks(spec.hooks.create_container, "createContainer", hook_state);
    }
    if (own_mounts) {
      pivot_into(spec.root);
      trace("pivoted");
      if (spec.rootfs_propagation) set_root_propagation(spec.rootfs_propagation);
    } else {
      // The host's mount namespace: nothing is mounted, the root is only changed for us.
      if (chroot(spec.root.c_str()) < 0) fail_errno("chroot " + spec.root);
      if (chdir("/") < 0) fail_errno("chdir /");
    }
    write_sysctls(spec);
    if (!spec.process.user_name.empty()) resolve_user(spec.process, spec.process.user_name);
    ensure_home(spec.process);

    int master = -1, slave = -1;
    if (spec.process.terminal) {
      std::string slave_path;
      master = open_pty(slave_path, slave);
      set_winsize(master, spec.process.height, spec.process.width);
      if (fchown(slave, spec.process.uid, 5) < 0) fchown(slave, spec.process.uid, spec.process.gid);
      bind_console(slave_path);
    }
    if (own_mounts) finish_rootfs(spec);
    trace("masked");
    // Docker creates a missing working directory.
    if (!is_dir(spec.process.cwd)) mkdir_p(spec.process.cwd);
    if (chdir(spec.process.cwd.c_str()) < 0) fail_errno("chdir " + spec.process.cwd);
    if (spec.root_readonly) readonly_root();
    // With an init the user's command (after "--") is the one to find: a missing one fails create
    // with the same message as without --init.
    std::string path = init_fd < 0 ? find_executable(spec.process) : find_executable(init_command(spec.process));


    if (master >= 0) {
      chan_send(sync, 'T', "", master);
      close(master);
      become_tty(slave);
    } else {
      for (int i = 0; i < 3; i++)
        if (plan.stdio[i] >= 0 && dup2(plan.stdio[i], i) < 0) fail_errno("set up stdio");
    }
    for (int i = 0; i < 3; i++)
      if (plan.stdio[i] > 2) close(plan.stdio[i]);
    apply_limits(spec.process);

    if (!chan_send(sync, 'R')) _exit(1);
    if (!chan_recv(sync, kind, text) || kind != 'S') _exit(1);
    // startContainer: in the container, before the user's program; the monitor sent the state.
    run_hooks(spec.hooks.start_container, "startContainer", text);
    // From now on the container outlives its monitor (live restore).
    prctl(PR_SET_PDEATHSIG, 0);
    trace("start received");
    finalize_and_exec(spec.process, spec.seccomp_bpf, path, init_fd);
  } catch (const Fail& f) {
    chan_fail(sync, f.what(), 127);
  } catch (const std::exception& e) {
    chan_fail(sync, std::string("container setup: ") + e.what(), 127);
  }
}

}  // namespace shoal
