#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <poll.h>
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
#include "logs.h"
#include "monitor_impl.h"
#include "sealed_exe.h"
#include "state.h"
#include "util.h"

extern char** environ;

namespace shoal {

namespace {

const size_t kMaxClientBacklog = 8 << 20;  // a client this far behind is dropped

std::string frame(int stream, const char* data, size_t n) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  f[4] = static_cast<char>((n >> 24) & 0xff);
  f[5] = static_cast<char>((n >> 16) & 0xff);
  f[6] = static_cast<char>((n >> 8) & 0xff);
  f[7] = static_cast<char>(n & 0xff);
  f.append(data, n);
  return f;
}

std::string err_reply(const std::string& m) { return "{\"ok\":false,\"error\":" + json_str(m) + "}"; }

}  // namespace

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void shed_file_pages() {
  std::string maps;
  if (!read_file("/proc/self/maps", maps)) return;
  for (auto& line : split(maps, '\n')) {
    // "start-end perms offset dev inode path"
    auto f = split(line, ' ');
    if (f.size() < 6 || f[1].size() < 4 || f[1][1] == 'w' || f[1][3] != 'p') continue;
    std::string path = f.back();
    if (path.empty() || path[0] != '/') continue;
    auto dash = f[0].find('-');
    unsigned long start = strtoul(f[0].c_str(), nullptr, 16), end = strtoul(f[0].c_str() + dash + 1, nullptr, 16);
    // MADV_RANDOM first: no fault-around, so a later fault maps one page, not its neighbours.
    madvise(reinterpret_cast<void*>(start), end - start, MADV_RANDOM);
    madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
  }
}

void Monitor::start_loop() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  sig_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  watch(sig_, Role::Signal);
  watch(listen_, Role::Listen);
  if (init_out_ >= 0) set_nonblock(init_out_), watch(init_out_, Role::InitOut);
  if (init_err_ >= 0) set_nonblock(init_err_), watch(init_err_, Role::InitErr);
  if (init_pty_ >= 0) set_nonblock(init_pty_), watch(init_pty_, Role::InitPty);
  if (init_in_ >= 0) set_nonblock(init_in_), watch(init_in_, Role::InitIn, 0);
  if (init_pidfd_ >= 0) watch(init_pidfd_, Role::InitPidfd);
}

void Monitor::resume(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  auto num = [&](const char* k) { return a.count(k) && !a[k].empty() ? atoi(a[k].c_str()) : -1; };
  o_.id = a["--id"];
  o_.state_dir = a["--state-dir"];
  o_.log_path = a["--log-path"];
  o_.log_max_size = strtoull(a["--log-max-size"].c_str(), nullptr, 10);
  o_.log_max_files = static_cast<unsigned>(atoi(a["--log-max-files"].c_str()));
  o_.runtime_path = a["--runtime"];
  init_ = num("--init-pid");
  sync_ = num("--sync");
  init_out_ = num("--out");
  init_err_ = num("--err");
  init_pty_ = num("--pty");
  init_in_ = num("--in");
  listen_ = num("--listen");
  terminal_ = a["--terminal"] == "1";
  stdin_once_ = a["--stdin-once"] == "1";
  runtime_fd_ = num("--runtime-fd");
  init_pidfd_ = num("--init-pidfd");
  // Only a sealed copy may start exec-helper; anything else is dropped for a per-exec copy.
  if (runtime_fd_ >= 0 && !is_sealed(runtime_fd_)) close(runtime_fd_), runtime_fd_ = -1;
  for (auto& h : split(a["--held"], ','))
    if (!h.empty()) held_ns_.push_back(atoi(h.c_str()));
  std::map<std::string, std::string> paths;
  for (auto& kv : split(a["--cgroups"], ',')) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) paths[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  cg_ = Cgroup::from_paths(paths);
  JsonObject ann = parse_json_object(a["--annotations"]);
  for (auto& [k, v] : ann.raw) state_.annotations[k] = json_unquote(v);
  state_.id = o_.id;
  state_.status = "created";
  state_.pid = init_;
  state_.bundle = a["--bundle"];
  state_.monitor_pid = getpid();
  state_.created = a["--created"];
  state_.cgroup_paths = paths;
  sock_path_ = o_.state_dir + "/ctl.sock";
  // every inherited fd is ours now; none may leak into exec'd processes
  for (int fd : {listen_, sync_, init_out_, init_err_, init_pty_, init_in_, runtime_fd_, init_pidfd_})
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  for (int fd : held_ns_) fcntl(fd, F_SETFD, FD_CLOEXEC);
  int log_fd = num("--log-fd");
  if (log_fd >= 0) log_.adopt(log_fd, o_.log_path, o_.log_max_size, o_.log_max_files);
  start_loop();
}

void Monitor::save_state() {
  state_.cgroup_paths = cg_.paths;
  write_state(o_.state_dir, state_);
}

void Monitor::watch(int fd, Role r, uint32_t ev) {
  roles_[fd] = r;
  base_events_[fd] = ev;
  epoll_event e{};
  e.events = ev;
  e.data.fd = fd;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
}

void Monitor::unwatch(int fd) {
  epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  roles_.erase(fd);
  base_events_.erase(fd);
  pending_.erase(fd);
}

void Monitor::close_fd(int& fd) {
  if (fd < 0) return;
  unwatch(fd);
  close(fd);
  fd = -1;
}

void Monitor::update_events(int fd) {
  auto it = base_events_.find(fd);
  if (it == base_events_.end()) return;
  epoll_event e{};
  e.events = it->second | (pending_.count(fd) && !pending_[fd].empty() ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  e.data.fd = fd;
  epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &e);
}

void Monitor::queue(int fd, const std::string& data) {
  if (fd < 0 || data.empty()) return;
  std::string& p = pending_[fd];
  bool was_empty = p.empty();
  p += data;
  if (was_empty) flush_queue(fd);
}

void Monitor::flush_queue(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  std::string& p = it->second;
  while (!p.empty()) {
    ssize_t n = write(fd, p.data(), p.size());
    if (n > 0) {
      p.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    p.clear();  // the reader went away
    auto c = clients_.find(fd);
    if (c != clients_.end()) c->second->closing = true;
    break;
  }
  update_events(fd);
  // Clients are never dropped here (callers may be iterating over them); see reap_clients().
}

void Monitor::reap_clients() {
  std::vector<int> done;
  for (auto& [fd, c] : clients_) {
    auto p = pending_.find(fd);
    if (c->closing && (p == pending_.end() || p->second.empty())) done.push_back(fd);
  }
  for (int fd : done) drop_client(fd);
}

void Monitor::broadcast(int stream, const char* data, size_t n) {
  std::vector<int> slow;
  for (auto& [fd, c] : clients_) {
    if (c->kind != Client::Attach || c->closing) continue;
    if ((stream == 1 && !c->want_out) || (stream == 2 && !c->want_err)) continue;
    queue(fd, stream == 0 ? std::string(data, n) : frame(stream, data, n));
    if (pending_[fd].size() > kMaxClientBacklog) slow.push_back(fd);
  }
  for (int fd : slow) drop_client(fd);
}

void Monitor::on_init_output(int& fd, int stream) {
  char buf[32768];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      log_.write(stream == 0 ? 1 : stream, buf, static_cast<size_t>(n));
      broadcast(stream, buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    close_fd(fd);  // EOF, or EIO on a pty whose last slave closed
    return;
  }
}

void Monitor::drop_client(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  std::string eid = it->second->exec_id;
  if (!eid.empty()) {
    auto e = execs_.find(eid);
    if (e != execs_.end() && e->second.client == fd) e->second.client = -1;
  }
  unwatch(fd);
  close(fd);
  clients_.erase(it);
}

void Monitor::on_client(int fd, uint32_t ev) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (ev & EPOLLOUT) flush_queue(fd);
  if (!clients_.count(fd)) return;
  if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      // A half-close only ends the client's input; a reset or a full close (EPOLLHUP) means the
      // client is gone: drop it now (a level-triggered HUP would otherwise spin the loop).
      bool gone = n < 0 || (ev & (EPOLLHUP | EPOLLERR));
      bool first_eof = !c.read_eof;
      c.read_eof = true;
      base_events_[fd] = 0;
      update_events(fd);
      if (c.kind == Client::Attach) {
        if (first_eof && stdin_once_ && c.want_in) {
          if (init_pty_ < 0) close_fd(init_in_);
          else if (pending_[init_pty_].empty()) write(init_pty_, "\x04", 1);  // EOF on a tty
        }
        if (gone || exited_ || (!c.want_out && !c.want_err)) drop_client(fd);
      } else if (c.kind == Client::Exec) {
        auto e = execs_.find(c.exec_id);
        if (e != execs_.end() && first_eof) {
          if (e->second.tty) {
            if (e->second.pty >= 0) write(e->second.pty, "\x04", 1);
          } else {
            close_fd(e->second.in);
          }
        }
        if (gone || e == execs_.end() || !e->second.running) drop_client(fd);
      } else if (gone || !c.waiting) {
        drop_client(fd);
      }
      return;
    }
    if (c.kind == Client::Attach) {
      if (c.want_in) queue(init_pty_ >= 0 ? init_pty_ : init_in_, std::string(buf, static_cast<size_t>(n)));
      continue;
    }
    if (c.kind == Client::Exec) {
      auto e = execs_.find(c.exec_id);
      if (e != execs_.end()) queue(e->second.tty ? e->second.pty : e->second.in, std::string(buf, static_cast<size_t>(n)));
      continue;
    }
    c.in.append(buf, static_cast<size_t>(n));
    size_t nl;
    while (c.kind == Client::Ctl && (nl = c.in.find('\n')) != std::string::npos) {
      std::string line = c.in.substr(0, nl);
      c.in.erase(0, nl + 1);
      handle_request(c, line);
      if (!clients_.count(fd)) return;
    }
    if (c.kind != Client::Ctl && !c.in.empty()) {
      // bytes that followed the attach/exec request line are stdin already
      std::string rest;
      rest.swap(c.in);
      if (c.kind == Client::Attach && c.want_in) queue(init_pty_ >= 0 ? init_pty_ : init_in_, rest);
      if (c.kind == Client::Exec) {
        auto e = execs_.find(c.exec_id);
        if (e != execs_.end()) queue(e->second.tty ? e->second.pty : e->second.in, rest);
      }
    }
    if (c.in.size() > (1 << 20)) {
      drop_client(fd);
      return;
    }
  }
}

std::string Monitor::start_exec(Client& c, const JsonObject& req) {
  if (!started_ || exited_) throw Fail("container is not running");
  if (state_.status == "paused") throw Fail("container is paused, unpause the container before exec");
  if (!req.has("process")) throw Fail("exec: process is required");
  std::string process_json = req.raw.at("process");
  JsonObject proc = parse_json_object(process_json);
  if (!proc.ok) throw Fail("exec: process must be a JSON object");
  std::string user = req.str("user");
  bool detach = req.boolean("detach");
  ExecProc e;
  unsigned char rnd[8];
  if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) fail_errno("getrandom");
  static const char hex[] = "0123456789abcdef";
  for (unsigned char b : rnd) e.id += hex[b >> 4], e.id += hex[b & 15];
  e.tty = proc.boolean("terminal");

  // exec-helper enters the container, so it runs from a sealed copy of shoal-runtime, never from
  // the host's file (CVE-2019-5736; sealed_exe.h): ours if we keep one, else one for this exec.
  int exe = runtime_fd_;
  if (exe < 0) {
    exe = sealed_copy_of(o_.runtime_path, "shoal-runtime");
    if (exe < 0) fail_errno("exec: sealed copy of " + o_.runtime_path);
  }
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int child_io[3] = {devnull, devnull, devnull};
  if (!e.tty && !detach) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
    e.out = p[0], child_io[1] = p[1];
    if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
    e.err = p[0], child_io[2] = p[1];
    if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
    child_io[0] = p[0], e.in = p[1];
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) fail_errno("socketpair");
  // The setup of an exec'd process (namespaces, user, caps, seccomp) is shoal-runtime's
  // `exec-helper`: the monitor stays small and never parses a process object itself. We stay in
  // the host's namespaces (the pid namespace too): the helper is born here, joins the
  // container's namespaces and clones the process into its pid namespace as our child, and
  // reports its pid ('P'); the process reports 'T' (its pty) or 'E', and EOF once exec'd.
  std::string cgroups;
  for (auto& f : cg_.join_files()) cgroups += (cgroups.empty() ? "" : ",") + f;
  std::string root = o_.state_dir.substr(0, o_.state_dir.find_last_of('/'));
  std::vector<std::string> args = {"shoal-runtime", "--root", root, "exec-helper", "--init-pid", std::to_string(init_),
                                   "--bundle", state_.bundle, "--sync", std::to_string(sv[1]),
                                   "--stdio", std::to_string(child_io[0]) + "," + std::to_string(child_io[1]) + "," +
                                                  std::to_string(child_io[2]),
                                   "--cgroups", cgroups, "--user", user, "--process", process_json};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t helper = fork();
  if (helper < 0) {
    int err = errno;
    if (exe != runtime_fd_) close(exe);
    fail_errno("fork exec process", err);
  }
  if (helper == 0) {
    close(sv[0]);
    for (int fd : {sv[1], child_io[0], child_io[1], child_io[2]}) fcntl(fd, F_SETFD, 0);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    exec_fd(exe, argv.data(), environ);
    chan_fail(sv[1], "exec: start the sealed copy of " + o_.runtime_path + ": " + errno_text(errno), 126);
  }
  if (exe != runtime_fd_) close(exe);
  close(sv[1]);
  for (int i = 0; i < 3; i++)
    if (child_io[i] != devnull) close(child_io[i]);
  close(devnull);
  std::string error;
  pid_t pid = 0;
  for (;;) {
    char kind;
    std::string text;
    int fd = -1;
    if (!chan_recv(sv[0], kind, text, &fd)) break;  // EOF: exec'd
    if (kind == 'P') pid = atoi(text.c_str());
    if (kind == 'T') {
      if (detach) close(fd);
      else e.pty = fd;
    }
    if (kind == 'E') {
      error = text;
      break;
    }
  }
  // The helper exits once it has reported the pid (or failed): reap it now.
  while (waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (error.empty() && pid <= 0) error = "exec: exec-helper exited without starting the process";
  close(sv[0]);
  if (!error.empty()) {
    for (int* f : {&e.out, &e.err, &e.in, &e.pty})
      if (*f >= 0) close(*f), *f = -1;
    throw Fail(error);
  }
  e.pid = pid;
  if (!detach) {
    if (e.out >= 0) set_nonblock(e.out), watch(e.out, Role::ExecOut), exec_by_fd_[e.out] = e.id;
    if (e.err >= 0) set_nonblock(e.err), watch(e.err, Role::ExecErr), exec_by_fd_[e.err] = e.id;
    if (e.in >= 0) set_nonblock(e.in), watch(e.in, Role::ExecIn, 0), exec_by_fd_[e.in] = e.id;
    if (e.pty >= 0) set_nonblock(e.pty), watch(e.pty, Role::ExecPty), exec_by_fd_[e.pty] = e.id;
    e.client = c.fd;
    c.kind = Client::Exec;
    c.exec_id = e.id;
  }
  std::string id = e.id;
  execs_[id] = e;
  return "{\"ok\":true,\"execId\":\"" + id + "\",\"pid\":" + std::to_string(pid) + "}";
}

void Monitor::handle_request(Client& c, const std::string& line) {
  JsonObject req = parse_json_object(line);
  std::string reply;
  try {
    if (!req.ok || !req.is_string("op")) throw Fail("bad request: expected a JSON object with \"op\"");
    std::string op = req.str("op");
    if (op == "start") {
      if (started_) throw Fail("container already started");
      if (exited_) throw Fail("container has exited");
      chan_send(sync_, 'S', state_json(state_));  // the state for startContainer hooks
      char kind;
      std::string text;
      bool got = chan_recv(sync_, kind, text);
      close(sync_);
      sync_ = -1;
      started_ = true;
      if (got && kind == 'E') throw Fail(text);
      if (!exited_) state_.status = "running";
      state_.started = rfc3339_nano(now_ns());
      save_state();
      reply = "{\"ok\":true,\"pid\":" + std::to_string(exited_ ? 0 : init_) + "}";
    } else if (op == "state") {
      std::string st = exited_ ? "stopped" : state_.status;
      reply = "{\"ok\":true,\"status\":\"" + st + "\",\"pid\":" + std::to_string(exited_ ? 0 : init_) + "}";
    } else if (op == "kill") {
      if (exited_) throw Fail("container is not running");
      int sig = SIGTERM;
      if (req.has("signal")) {
        if (req.is_number("signal")) sig = static_cast<int>(req.integer("signal"));
        else if (req.is_string("signal")) sig = signal_number(req.str("signal"));
        else sig = -1;
        if (sig <= 0 || sig > 64) throw Fail("invalid signal");
      }
      if (req.boolean("all")) {
        for (pid_t p : cg_.pids()) kill(p, sig);
        // The init too: a container without a cgroup (no cgroup file system in our mount namespace, as
        // under `ip netns exec`) lists no pids, and a forced delete would then wait for it forever.
        kill(init_, sig);
        if (state_.status == "paused" && sig == SIGKILL) cg_.freeze(false);
      } else if (kill(init_, sig) < 0) {
        fail_errno("kill");
      }
      if (state_.status == "paused" && (sig == SIGKILL || sig == SIGTERM)) {
        // A frozen process cannot act on a signal; thaw so that kill works as with docker.
        cg_.freeze(false);
        state_.status = "running";
        save_state();
      }
      reply = "{\"ok\":true}";
    } else if (op == "wait") {
      if (exited_) reply = exit_json(exit_, true);
      else c.waiting = true;
    } else if (op == "pause" || op == "resume") {
      if (exited_ || !started_) throw Fail("container is not running");
      bool on = op == "pause";
      if (on && state_.status == "paused") throw Fail("container is already paused");
      if (!on && state_.status != "paused") throw Fail("container is not paused");
      if (!cg_.freeze(on)) throw Fail(on ? "freeze the container's cgroup failed" : "thaw the container's cgroup failed");
      state_.status = on ? "paused" : "running";
      save_state();
      reply = "{\"ok\":true}";
    } else if (op == "stats") {
      reply = "{\"ok\":true,\"read\":\"" + rfc3339_nano(now_ns()) + "\"," + cg_.stats_json() + "}";
    } else if (op == "resize") {
      auto h = static_cast<unsigned short>(req.integer("height")), w = static_cast<unsigned short>(req.integer("width"));
      int fd = init_pty_;
      if (req.is_string("execId")) {
        auto e = execs_.find(req.str("execId"));
        if (e == execs_.end()) throw Fail("no such exec");
        fd = e->second.pty;
      }
      if (fd < 0) throw Fail("the process has no terminal");
      set_winsize(fd, h, w);
      reply = "{\"ok\":true}";
    } else if (op == "attach") {
      if (exited_) throw Fail("container is not running");
      c.kind = Client::Attach;
      c.want_in = req.boolean("stdin");
      c.want_out = req.boolean("stdout");
      c.want_err = req.boolean("stderr");
      if (c.want_in && init_in_ < 0 && init_pty_ < 0) c.want_in = false;
      if (init_pty_ >= 0) c.want_err = false;
      reply = "{\"ok\":true}";
    } else if (op == "exec") {
      reply = start_exec(c, req);
    } else if (op == "exec-state") {
      std::string id = req.str("execId");
      auto e = execs_.find(id);
      if (e == execs_.end()) throw Fail("no such exec: " + id);
      reply = std::string("{\"ok\":true,\"running\":") + (e->second.running ? "true" : "false") +
              ",\"pid\":" + std::to_string(e->second.pid) +
              ",\"exitCode\":" + (e->second.running ? "null" : std::to_string(e->second.exit_code)) + "}";
    } else if (op == "shutdown") {
      // runc mode: the exit may be on the pidfd, not yet read in this round of events
      if (!exited_ && init_pidfd_ >= 0) {
        pollfd p{init_pidfd_, POLLIN, 0};
        if (poll(&p, 1, 0) == 1) {
          unwatch(init_pidfd_);
          close(init_pidfd_);
          init_pidfd_ = -1;
          init_exited(-1);
        }
      }
      if (!exited_ && init_pidfd_ < 0) {  // exited a moment ago, not yet reaped in this round
        int st = 0;
        if (waitpid(init_, &st, WNOHANG) == init_) init_exited(st);
      }
      if (!exited_) throw Fail("container is still running");
      shutdown_ = true;
      reply = "{\"ok\":true}";
    } else {
      throw Fail("unknown op \"" + op + "\"");
    }
  } catch (const std::exception& e) {
    reply = err_reply(e.what());
    if (c.kind == Client::Exec && c.exec_id.empty()) c.kind = Client::Ctl;
  }
  if (!reply.empty()) queue(c.fd, reply + "\n");
}

void Monitor::drain_exec(ExecProc& e) {
  for (int* fd : {&e.out, &e.err, &e.pty}) {
    if (*fd < 0) continue;
    on_exec_output(*fd, fd == &e.out ? 1 : fd == &e.err ? 2 : 0);
  }
  for (int* fd : {&e.out, &e.err, &e.pty, &e.in}) {
    if (*fd < 0) continue;
    exec_by_fd_.erase(*fd);
    close_fd(*fd);
  }
}

void Monitor::on_exec_output(int fd, int stream) {
  auto id = exec_by_fd_.find(fd);
  if (id == exec_by_fd_.end()) return;
  auto it = execs_.find(id->second);
  if (it == execs_.end()) return;
  ExecProc& e = it->second;
  char buf[32768];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (e.client >= 0)
        queue(e.client, stream == 0 ? std::string(buf, static_cast<size_t>(n)) : frame(stream, buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    int* slot = fd == e.out ? &e.out : fd == e.err ? &e.err : &e.pty;
    exec_by_fd_.erase(fd);
    close_fd(*slot);
    return;
  }
}

void Monitor::exec_exited(ExecProc& e, int status) {
  e.running = false;
  e.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  finished_execs_.push_back(e.id);
  drain_exec(e);
  if (e.client >= 0) {
    auto c = clients_.find(e.client);
    if (c != clients_.end()) {
      c->second->closing = true;
      if (pending_[e.client].empty()) drop_client(e.client);
    }
    e.client = -1;
  }
}

void Monitor::init_exited(int status) {
  exited_ = true;
  for (int* fd : {&init_out_, &init_err_, &init_pty_})
    if (*fd >= 0) on_init_output(*fd, fd == &init_out_ ? 1 : fd == &init_err_ ? 2 : 0);
  for (int* fd : {&init_out_, &init_err_, &init_pty_, &init_in_}) close_fd(*fd);
  log_.close();
  if (sync_ >= 0) close(sync_), sync_ = -1;
  if (status < 0) {
    exit_.exit_code = -1;  // runc mode: the status is the reaper's, not ours to know
  } else if (WIFSIGNALED(status)) {
    exit_.exit_code = 128 + WTERMSIG(status);
    exit_.signal = signal_name(WTERMSIG(status));
  } else {
    exit_.exit_code = WEXITSTATUS(status);
  }
  exit_.oom_killed = cg_.oom_kills() > 0;
  exit_.finished_at = rfc3339_nano(now_ns());
  try {
    write_exit(o_.state_dir, exit_);
    state_.status = "stopped";
    save_state();
  } catch (...) {
  }
  std::string reply = exit_json(exit_, true) + "\n";
  std::vector<int> done;
  for (auto& [fd, c] : clients_) {
    if (c->waiting) {
      c->waiting = false;
      queue(fd, reply);
      if (c->read_eof) c->closing = true;
    }
    if (c->kind == Client::Attach) c->closing = true;
    if (c->closing && pending_[fd].empty()) done.push_back(fd);
  }
  for (int fd : done) drop_client(fd);
  // Let a throwaway child drop the last references to the namespaces: their teardown then runs
  // in its exit, while we go on answering (delete waits for us, not for the teardown).
  if (!held_ns_.empty()) {
    pid_t t = fork();
    if (t == 0) _exit(0);
    for (int fd : held_ns_) close(fd);
    held_ns_.clear();
  }
  // Stay a little for late `wait`/`state` callers, then go (exit.json has everything).
  timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  itimerspec its{};
  its.it_value.tv_sec = 2;
  timerfd_settime(timer_, 0, &its, nullptr);
  watch(timer_, Role::Timer);
}

void Monitor::on_signal() {
  signalfd_siginfo si;
  while (read(sig_, &si, sizeof si) == sizeof si) {
  }
  for (;;) {
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p <= 0) break;
    if (p == init_ && !exited_) {
      trace("init reaped");
  init_exited(status);
      continue;
    }
    for (auto& [id, e] : execs_)
      if (e.pid == p && e.running) exec_exited(e, status);
  }
  forget_old_execs();  // here, not in exec_exited: that runs inside a walk over execs_
}

void Monitor::forget_old_execs() {
  if (finished_execs_.size() <= kMaxFinishedExecs) return;
  size_t drop = finished_execs_.size() - kMaxFinishedExecs;
  // A finished exec holds no fd (drained and closed) and no client (detached at its exit).
  for (size_t i = 0; i < drop; i++) execs_.erase(finished_execs_[i]);
  finished_execs_.erase(finished_execs_.begin(), finished_execs_.begin() + static_cast<long>(drop));
}

void Monitor::finish() {
  for (auto& [fd, c] : clients_) flush_queue(fd);
  unlink(sock_path_.c_str());
  _exit(0);
}

void Monitor::run() {
  epoll_event evs[32];
  for (;;) {
    if (shutdown_) {
      bool pending = false;
      for (auto& [fd, p] : pending_) pending = pending || !p.empty();
      if (!pending) finish();
    }
    int n = epoll_wait(ep_, evs, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      auto r = roles_.find(fd);
      if (r == roles_.end()) continue;
      uint32_t ev = evs[i].events;
      switch (r->second) {
        case Role::Signal: on_signal(); break;
        case Role::InitPidfd:
          // runc mode: the process has exited; its status goes to its parent (the reaper).
          unwatch(init_pidfd_);
          close(init_pidfd_);
          init_pidfd_ = -1;
          if (!exited_) init_exited(-1);
          break;
        case Role::Timer: finish();
        case Role::Listen: {
          for (;;) {
            int c = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) break;
            auto cl = std::make_unique<Client>();
            cl->fd = c;
            clients_[c] = std::move(cl);
            watch(c, Role::Client, EPOLLIN | EPOLLRDHUP);
          }
          break;
        }
        case Role::InitOut: on_init_output(init_out_, 1); break;
        case Role::InitErr: on_init_output(init_err_, 2); break;
        case Role::InitPty:
          if (ev & EPOLLOUT) flush_queue(fd);
          if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            // EPOLLHUP on a pty master only means no slave is open right now; keep reading.
            if (ev & EPOLLIN) on_init_output(init_pty_, 0);
          }
          break;
        case Role::InitIn:
        case Role::ExecIn:
          if (ev & (EPOLLERR | EPOLLHUP)) {
            pending_[fd].clear();
            if (r->second == Role::InitIn) close_fd(init_in_);
            else {
              auto id = exec_by_fd_.find(fd);
              if (id != exec_by_fd_.end()) {
                auto e = execs_.find(id->second);
                exec_by_fd_.erase(id);
                if (e != execs_.end()) close_fd(e->second.in);
              }
            }
          } else {
            flush_queue(fd);
          }
          break;
        case Role::Client: on_client(fd, ev); break;
        case Role::ExecOut: on_exec_output(fd, 1); break;
        case Role::ExecErr: on_exec_output(fd, 2); break;
        case Role::ExecPty:
          if (ev & EPOLLOUT) flush_queue(fd);
          if (ev & EPOLLIN) on_exec_output(fd, 0);
          break;
      }
    }
    reap_clients();
  }
}

}  // namespace shoal
