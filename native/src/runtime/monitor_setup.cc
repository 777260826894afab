#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "cgroups.h"
#include "channel.h"
#include "container.h"
#include "exec_child.h"
#include "hooks.h"
#include "logs.h"
#include "monitor_impl.h"
#include "state.h"
#include "util.h"

namespace shoal {

void Monitor::spawn_init(Spec& spec_) {
  // stdio of the init
  int child_io[3] = {-1, -1, -1};
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (!spec_.process.terminal) {
    if (o_.passthrough) {
      for (int i = 0; i < 3; i++) child_io[i] = i;
    } else {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
      init_out_ = p[0];
      child_io[1] = p[1];
      if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
      init_err_ = p[0];
      child_io[2] = p[1];
      if (o_.stdin_open) {
        if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
        child_io[0] = p[0];
        init_in_ = p[1];
      } else {
        child_io[0] = devnull;
      }
    }
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) fail_errno("socketpair");

  InitPlan plan;
  plan.spec = &spec_;
  plan.sync = sv[1];
  plan.close_fd = result_fd_;
  for (auto& f : cg_.join_files()) {
    int fd = open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail_errno("open " + f);
    plan.cgroup_fds.push_back(fd);
  }
  for (int i = 0; i < 3; i++) plan.stdio[i] = child_io[i];
  unsigned long flags = 0;
  for (auto& ns : spec_.namespaces) {
    if (!ns.path.empty()) {
      int fd = open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) fail_errno("open namespace " + ns.path);
      // user namespace first, so the others are joined with its privileges
      if (ns.flag == CLONE_NEWUSER) plan.join.insert(plan.join.begin(), {fd, ns.flag});
      else plan.join.push_back({fd, ns.flag});
    } else if (ns.flag == CLONE_NEWCGROUP) {
      plan.new_cgroupns = true;  // after joining the cgroup, not at clone time
    } else {
      flags |= static_cast<unsigned long>(ns.flag);
    }
  }
  plan.sibling = o_.passthrough;
  if (plan.sibling) flags |= CLONE_PARENT;
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid < 0) fail_errno("create container process (clone)");
  if (pid == 0) {
    close(sv[0]);
    container_init(plan);
  }
  init_ = pid;
  trace("cloned");
  close(sv[1]);
  sync_ = sv[0];
  for (auto& [fd, flag] : plan.join) close(fd);
  for (int fd : plan.cgroup_fds) close(fd);
  for (int i = 0; i < 3; i++)
    if (child_io[i] > 2 && child_io[i] != devnull) close(child_io[i]);
  close(devnull);

  if (spec_.has_ns(CLONE_NEWUSER) && spec_.ns(CLONE_NEWUSER)->path.empty()) {
    auto map_text = [](const std::vector<IdMap>& m) {
      std::string t;
      for (auto& e : m)
        t += std::to_string(e.container_id) + " " + std::to_string(e.host_id) + " " + std::to_string(e.size) + "\n";
      return t;
    };
    std::string base = "/proc/" + std::to_string(pid);
    int err = 0;
    if (!try_write_file(base + "/uid_map", map_text(spec_.uid_maps), &err)) fail_errno("write uid_map", err);
    if (!try_write_file(base + "/gid_map", map_text(spec_.gid_maps), &err)) fail_errno("write gid_map", err);
  }
  chan_send(sync_, 'G');
  for (;;) {
    char kind;
    std::string text;
    int fd = -1;
    if (!chan_recv(sync_, kind, text, &fd)) throw Fail("container init exited during setup");
    if (kind == 'E') throw Fail(text);
    if (kind == 'T') {
      if (o_.console_socket.empty()) {
        init_pty_ = fd;
      } else {
        // The caller owns the terminal: it gets the master, we keep nothing of it.
        try {
          send_fd_to_socket(o_.console_socket, fd, "pty");
        } catch (...) {
          close(fd);
          throw;
        }
        close(fd);
      }
      continue;
    }
    if (kind == 'P') {
      // The init joined a pid namespace by path: the process is its clone there (our child too);
      // the first one has exited.
      pid_t joined = static_cast<pid_t>(atoi(text.c_str()));
      while (!plan.sibling && waitpid(init_, nullptr, 0) < 0 && errno == EINTR) {
      }
      if (joined <= 0) throw Fail("container init reported no pid");
      init_ = joined;
      continue;
    }
    if (kind == 'H') {
      // The container's environment is made (mounts, before pivot_root): prestart and
      // createRuntime hooks run here, in the runtime's namespaces.
      State st;
      st.id = o_.id;
      st.status = "creating";
      st.pid = init_;
      st.bundle = spec_.bundle;
      st.annotations = spec_.annotations;
      std::string text = state_json(st);
      run_hooks(spec_.hooks.prestart, "prestart", text);
      run_hooks(spec_.hooks.create_runtime, "createRuntime", text);
      chan_send(sync_, 'h', text);
      continue;
    }
    if (kind == 'R') break;
  }
  if (plan.sibling) {
    init_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, init_, 0));
    if (init_pidfd_ < 0) fail_errno("pidfd_open of the container's process");
    fcntl(init_pidfd_, F_SETFD, FD_CLOEXEC);
  }
  // Holding the new namespaces means their teardown (unmounting the whole container tree, the
  // network namespace) happens when we let go after reporting the exit, not inside the init's
  // exit, which would delay the exit notification by milliseconds.
  for (const char* ns : {"mnt", "net", "ipc", "uts"}) {
    int fd = open(("/proc/" + std::to_string(init_) + "/ns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) held_ns_.push_back(fd);
  }
  trace("init ready");
}

void Monitor::cleanup_failed() {
  if (init_ > 0) {
    kill(init_, SIGKILL);
    if (init_pidfd_ < 0) waitpid(init_, nullptr, 0);  // else not our child: its parent reaps it
  }
  cg_.destroy();
  remove_tree(o_.state_dir);
}

void Monitor::setup(Spec& spec_, int result_fd) {
  result_fd_ = result_fd;
  terminal_ = spec_.process.terminal;
  stdin_once_ = spec_.stdin_once;
  try {
    trace("monitor begins");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);

    cg_ = Cgroup::create(spec_, o_.id);
    trace("cgroups made");
    spawn_init(spec_);

    state_.id = o_.id;
    state_.status = "created";
    state_.pid = init_;
    state_.bundle = spec_.bundle;
    state_.annotations = spec_.annotations;
    state_.monitor_pid = getpid();
    state_.created = rfc3339_nano(now_ns());
    state_.cgroup_paths = cg_.paths;
    save_state();
    if (!o_.pid_file.empty()) write_file_atomic(o_.pid_file, std::to_string(init_));

    sock_path_ = o_.state_dir + "/ctl.sock";
    listen_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // A deep --root makes the path longer than sun_path: bind through a directory fd instead.
    int dirfd = -1;
    std::string bind_path = sock_path_;
    if (bind_path.size() >= sizeof addr.sun_path) {
      dirfd = open(o_.state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0) fail_errno("open " + o_.state_dir);
      bind_path = "/proc/self/fd/" + std::to_string(dirfd) + "/ctl.sock";
    }
    strcpy(addr.sun_path, bind_path.c_str());
    mode_t old = umask(0177);
    int rc = bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    umask(old);
    if (dirfd >= 0) close(dirfd);
    if (rc < 0) fail_errno("bind " + sock_path_);
    if (listen(listen_, 64) < 0) fail_errno("listen " + sock_path_);
    if (!o_.log_path.empty()) log_.open(o_.log_path, o_.log_max_size, o_.log_max_files);
    if (init_pty_ >= 0) init_in_ = -1;  // stdin goes to the pty master
  } catch (const std::exception& e) {
    cleanup_failed();
    // The spec: a failed create goes on to delete, and delete ends with the poststop hooks.
    if (!spec_.hooks.poststop.empty()) {
      State st;
      st.id = o_.id;
      st.status = "stopped";
      st.bundle = spec_.bundle;
      st.annotations = spec_.annotations;
      run_hooks_warning(spec_.hooks.poststop, "poststop", state_json(st));
    }
    std::string m = std::string("E") + e.what() + "\n";
    write_all(result_fd, m.data(), m.size());
    _exit(1);
  }
  write_all(result_fd, "ok\n", 3);
  close(result_fd);
  if (o_.passthrough) {
    // The container holds our caller's stdio now; we must not keep it open (pipes would never end).
    int devnull = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; i++) dup2(devnull, i);
    if (devnull > 2) close(devnull);
  }
  // exec-helper is started from a sealed copy: this one (we run from it) when it is worth keeping.
  if (o_.keep_runtime_copy) runtime_fd_ = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  // Become the small shoal-monitor (same pid, same fds); the big binary's pages go with exec.
  // It stays in the host's namespaces, so it may run from the host's file.
  std::string lean = o_.runtime_path.substr(0, o_.runtime_path.find_last_of('/') + 1) + "shoal-monitor";
  if (!o_.runtime_path.empty() && access(lean.c_str(), X_OK) == 0) {
    auto args = lean_argv();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (int fd : {listen_, sync_, init_out_, init_err_, init_pty_, init_in_, log_.fd(), runtime_fd_, init_pidfd_})
      if (fd >= 0) fcntl(fd, F_SETFD, 0);
    for (int fd : held_ns_) fcntl(fd, F_SETFD, 0);
    execv(lean.c_str(), argv.data());
    trace("exec of shoal-monitor failed; monitoring in place");
  }
  start_loop();
  malloc_trim(0);
  shed_file_pages();
}

std::vector<std::string> Monitor::lean_argv() const {
  std::string held, cgroups, annotations = "{";
  for (int fd : held_ns_) held += (held.empty() ? "" : ",") + std::to_string(fd);
  for (auto& [k, v] : cg_.paths) cgroups += (cgroups.empty() ? "" : ",") + k + "=" + v;
  for (auto& [k, v] : state_.annotations) annotations += (annotations.size() > 1 ? "," : "") + json_str(k) + ":" + json_str(v);
  annotations += "}";
  return {"shoal-monitor", "--id", o_.id, "--state-dir", o_.state_dir, "--log-path", o_.log_path,
          "--log-max-size", std::to_string(o_.log_max_size), "--log-max-files", std::to_string(o_.log_max_files),
          "--log-fd", std::to_string(log_.fd()), "--runtime", o_.runtime_path, "--init-pid", std::to_string(init_),
          "--sync", std::to_string(sync_), "--out", std::to_string(init_out_), "--err", std::to_string(init_err_),
          "--pty", std::to_string(init_pty_), "--in", std::to_string(init_in_), "--listen", std::to_string(listen_),
          "--held", held, "--cgroups", cgroups, "--bundle", state_.bundle, "--created", state_.created,
          "--annotations", annotations, "--terminal", terminal_ ? "1" : "0", "--stdin-once", stdin_once_ ? "1" : "0",
          "--runtime-fd", std::to_string(runtime_fd_), "--init-pidfd", std::to_string(init_pidfd_)};
}

// After setup the monitor runs only its small event loop. The code and read-only data that
// create used (JSON parsing, mounts, libseccomp) stay mapped and count in its RSS; dropping our
// page-table references to read-only file pages costs nothing (they refault from the page
// cache if ever needed again) and keeps a monitor well under 1 MiB.
void monitor_main(Spec& spec, const MonitorOptions& opts, int result_fd) {
  Monitor* m = new Monitor(opts);
  m->setup(spec, result_fd);
  m->run();
}

}  // namespace shoal
