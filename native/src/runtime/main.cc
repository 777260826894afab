// shoal-runtime: an OCI runtime command (runc's verbs) whose `create` forks the per-container
// monitor. See native/PROTOCOL.md.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "caps.h"
#include "cgroups.h"
#include "ctl_client.h"
#include "channel.h"
#include "exec_child.h"
#include "hooks.h"
#include "monitor.h"
#include "sealed_exe.h"
#include "seccomp_filter.h"
#include "spec.h"
#include "state.h"
#include "util.h"

using namespace shoal;
using json = nlohmann::json;

extern char** environ;

namespace {

// create and run fork the monitor and clone the container's init from this very process, so the
// init's /proc/self/exe would be our host file: run from a sealed copy first (sealed_exe.h),
// re-exec'ing into one unless our caller (shoald's addon) already started us from one.
// Returns whether the copy is shared (made by the caller) rather than made for this call alone.
bool ensure_sealed(char** argv) {
  static const char kGuard[] = "_SHOAL_SEALED_PID";  // we re-exec'd ourselves: same pid after
  std::string me = std::to_string(getpid());
  const char* guard = getenv(kGuard);
  bool reexeced = guard && me == guard;
  if (running_sealed()) {
    unsetenv(kGuard);
    return !reexeced;
  }
  if (reexeced) throw Fail("run from a sealed copy: /proc/self/exe is not sealed after re-exec");
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) fail_errno("readlink /proc/self/exe");
  std::string path(self, static_cast<size_t>(n));
  int fd = sealed_copy_of("/proc/self/exe", "shoal-runtime");
  if (fd < 0) fail_errno("make a sealed copy of " + path);
  setenv(kRuntimePathEnv, path.c_str(), 1);
  setenv(kGuard, me.c_str(), 1);
  trace("re-exec sealed");
  exec_fd(fd, argv, environ);
  fail_errno("run the sealed copy of " + path);
}

bool g_shared_copy = false;  // set by main for create/run (ensure_sealed)

struct Args {
  std::string root = "/run/shoal-runtime";
  std::string log, log_format = "text";  // --log FILE: where errors are written (as runc's)
  bool version = false, help = false;
  std::string verb;
  std::map<std::string, std::string> flags;  // --name → value ("" for booleans)
  std::vector<std::string> multi_env;
  std::vector<std::string> positional;
};

// Flags that take a value, per verb; everything else starting with '-' is boolean.
bool takes_value(const std::string& f) {
  static const char* kValued[] = {"--bundle", "-b",         "--pid-file",      "--console-socket", "--log-path",
                                  "--log-max-size", "--log-max-files", "--process", "-p", "--cwd", "--env", "-e",
                                  "--user", "-u", "--root", "--log", "--log-format", "--format", "-f", "--signal", "-s",
                                  "--interval", "--preserve-fds", "--process-label", "--apparmor", "--cap", "-c",
                                  "--init-pid", "--sync", "--stdio", "--cgroups", "--resources", "-r", "--memory",
                                  "--memory-swap", "--memory-reservation", "--cpu-shares", "--cpu-period",
                                  "--cpu-quota", "--cpuset-cpus", "--cpuset-mems", "--pids-limit", "--blkio-weight"};
  for (auto* v : kValued)
    if (f == v) return true;
  return false;
}

std::string canonical(const std::string& f) {
  static const std::map<std::string, std::string> kAlias = {{"-b", "--bundle"}, {"-p", "--process"}, {"-e", "--env"},
                                                            {"-u", "--user"},   {"-t", "--tty"},     {"-d", "--detach"},
                                                            {"-f", "--force"},  {"-a", "--all"},     {"-s", "--signal"},
                                                            {"-r", "--resources"}};
  auto it = kAlias.find(f);
  return it == kAlias.end() ? f : it->second;
}

Args parse_args(int argc, char** argv) {
  Args a;
  int i = 1;
  // global flags before the verb
  for (; i < argc; i++) {
    std::string s = argv[i];
    if (s.empty() || s[0] != '-') break;
    std::string name = s, val;
    auto eq = s.find('=');
    if (eq != std::string::npos) name = s.substr(0, eq), val = s.substr(eq + 1);
    else if (takes_value(name) && i + 1 < argc) val = argv[++i];
    if (name == "--root") {
      if (val.empty()) throw Fail("--root needs a directory");
      a.root = val;
    } else if (name == "--log") {
      a.log = val;
    } else if (name == "--log-format") {
      if (val != "text" && val != "json") throw Fail("--log-format: \"" + val + "\" is not text or json");
      a.log_format = val;
    } else if (name == "--version" || name == "-v") {
      a.version = true;
    } else if (name == "--help" || name == "-h") {
      a.help = true;
    } else if (name == "--systemd-cgroup") {
      throw Fail("--systemd-cgroup: not supported (shoal-runtime manages cgroupfs directly)");
    } else if (name != "--debug") {  // --debug: nothing more to say than we do
      throw Fail("unknown global flag " + name + " (see --help)");
    }
  }
  if (a.version || a.help) return a;
  if (i >= argc) throw Fail("no command given (see --help)");
  a.verb = argv[i++];
  bool only_positional = false;
  for (; i < argc; i++) {
    std::string s = argv[i];
    if (only_positional || s.empty() || s[0] != '-' || s == "-") {
      a.positional.push_back(s);
      // exec: everything after the ID is the command; ps: ps(1)'s arguments
      if ((a.verb == "exec" || a.verb == "ps") && !a.positional.empty()) only_positional = true;
      continue;
    }
    if (s == "--") {
      only_positional = true;
      continue;
    }
    if (s == "--help" || s == "-h") {
      a.help = true;
      continue;
    }
    std::string name = s, val;
    auto eq = s.find('=');
    bool has_eq = eq != std::string::npos && s.rfind("--", 0) == 0;
    if (has_eq) name = s.substr(0, eq), val = s.substr(eq + 1);
    else if (takes_value(name) && !(name == "-f" && a.verb == "delete")) {  // delete -f is --force
      if (i + 1 >= argc) throw Fail("flag " + name + " needs a value");
      val = argv[++i];
    }
    name = name == "-f" && a.verb != "delete" ? "--format" : canonical(name);
    if (name == "--env") a.multi_env.push_back(val);
    else a.flags[name] = val;
  }
  return a;
}

bool has(const Args& a, const char* f) { return a.flags.count(f) > 0; }
std::string flag(const Args& a, const char* f, const std::string& d = "") {
  auto it = a.flags.find(f);
  return it == a.flags.end() ? d : it->second;
}

std::string need_id(const Args& a) {
  if (a.positional.empty()) throw Fail(a.verb + ": container ID is required");
  const std::string& id = a.positional[0];
  if (id.empty() || id.size() > 128 || id == "." || id == "..") throw Fail("invalid container ID \"" + id + "\"");
  for (char c : id)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      throw Fail("invalid container ID \"" + id + "\": use letters, digits, '_', '-', '.'");
  return id;
}

std::string state_dir(const Args& a, const std::string& id) { return a.root + "/" + id; }

std::string existing_dir(const Args& a, const std::string& id) {
  std::string d = state_dir(a, id);
  if (!is_dir(d)) throw Fail("container \"" + id + "\" does not exist");
  return d;
}

uint64_t parse_size(const std::string& s, const char* what) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end || errno || s[0] == '-') throw Fail(std::string("invalid ") + what + " \"" + s + "\"");
  return v;
}

// ----- create -----

void do_create(const Args& a, const std::string& id, bool passthrough) {
  std::string bundle = flag(a, "--bundle", ".");
  char real[PATH_MAX];
  if (!realpath(bundle.c_str(), real)) fail_errno("bundle " + bundle);
  Spec spec = load_spec(real);
  trace("spec loaded");
  if (spec.seccomp) spec.seccomp_bpf = seccomp_program(*spec.seccomp, a.root + "/.seccomp-cache");
  trace("seccomp ready");
  MonitorOptions o;
  o.id = id;
  o.state_dir = state_dir(a, id);
  o.log_path = flag(a, "--log-path");
  o.pid_file = flag(a, "--pid-file");
  if (has(a, "--log-max-size")) o.log_max_size = parse_size(flag(a, "--log-max-size"), "--log-max-size");
  if (has(a, "--log-max-files")) o.log_max_files = static_cast<unsigned>(parse_size(flag(a, "--log-max-files"), "--log-max-files"));
  o.stdin_open = has(a, "--stdin");
  o.passthrough = passthrough;
  // We run from a sealed copy (main made sure); the host's file is where shoal-monitor lives.
  const char* host_path = getenv(kRuntimePathEnv);
  if (host_path && host_path[0] == '/') o.runtime_path = host_path;
  // The monitor runs exec-helper from a sealed copy too: it keeps this one when it is shared
  // (shoald's, so no memory per container) or when it cannot make its own (no host path).
  o.keep_runtime_copy = g_shared_copy || o.runtime_path.empty();
  if (has(a, "--console-socket")) {
    std::string cs = flag(a, "--console-socket");
    if (cs.empty()) throw Fail("--console-socket: a path is required");
    if (cs[0] != '/') {
      char cwd[PATH_MAX];
      if (!getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
      cs = std::string(cwd) + "/" + cs;
    }
    o.console_socket = cs;
  }
  // As runc: a terminal goes to --console-socket (or, for shoald, to ctl.sock attach with --log-path).
  if (!o.console_socket.empty() && !spec.process.terminal)
    throw Fail("--console-socket: the process has no terminal (process.terminal is false)");
  if (spec.process.terminal && o.console_socket.empty() && passthrough)
    throw Fail("process.terminal needs --console-socket (the runtime does not keep a terminal itself)");

  mkdir_p(a.root, 0711);
  if (mkdir(o.state_dir.c_str(), 0711) < 0) {
    if (errno == EEXIST) throw Fail("container \"" + id + "\" already exists");
    fail_errno("create state directory " + o.state_dir);
  }
  // poststart and poststop are run by `start` and `delete`: from the hooks as created.
  if (!spec.hooks_json.empty()) {
    try {
      write_file_atomic(o.state_dir + "/hooks.json", spec.hooks_json);
    } catch (...) {
      remove_tree(o.state_dir);
      throw;
    }
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    remove_tree(o.state_dir);
    fail_errno("fork monitor");
  }
  if (pid == 0) {
    close(p[0]);
    // The monitor keeps nothing of its caller but stdio (when passed through) and the result pipe.
    if (p[1] > 3) syscall(SYS_close_range, 3U, static_cast<unsigned>(p[1] - 1), 0U);
    syscall(SYS_close_range, static_cast<unsigned>(p[1] + 1), ~0U, 0U);
    setsid();
    if (chdir("/") < 0) _exit(1);
    if (!passthrough) {
      int devnull = open("/dev/null", O_RDWR);
      for (int i = 0; i < 3; i++) dup2(devnull, i);
      if (devnull > 2) close(devnull);
    }
    monitor_main(spec, o, p[1]);
  }
  close(p[1]);
  std::string result;
  char buf[4096];
  for (;;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.append(buf, static_cast<size_t>(n));
    if (result.back() == '\n') break;  // the container's init also holds this pipe until exec
  }
  close(p[0]);
  if (!result.empty() && result.back() == '\n') result.pop_back();
  trace("create done");
  if (result == "ok") return;
  if (!passthrough) waitpid(pid, nullptr, 0);
  if (!result.empty() && result[0] == 'E') throw Fail(result.substr(1));
  // The monitor died without a word (killed?): its half-made container is ours to remove.
  waitpid(pid, nullptr, 0);
  Cgroup::planned(spec, id).destroy();
  remove_tree(o.state_dir);
  throw Fail("monitor died during create");
}

// ----- helpers for other verbs -----

bool alive(pid_t p) { return p > 0 && (kill(p, 0) == 0 || errno == EPERM); }

// Gone or a zombie: in runc mode the process's reaper (containerd's shim) may have seen its exit
// before the monitor did.
bool exited(pid_t p) {
  if (p <= 0) return true;
  if (kill(p, 0) < 0 && errno == ESRCH) return true;
  std::string stat = read_file_or("/proc/" + std::to_string(p) + "/stat", "");
  auto close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() &&
         (stat[close_paren + 2] == 'Z' || stat[close_paren + 2] == 'X');
}

std::string status_of(const std::string& dir, State& s) {
  if (read_exit(dir)) return "stopped";
  if (s.status != "creating" && exited(s.pid)) return "stopped";
  if (ctl_connect(dir) < 0 && !alive(s.pid)) return "stopped";
  return s.status;
}

void check_ok(const std::string& reply) {
  std::string e = reply_error(reply);
  if (!e.empty()) throw Fail(e);
}

Hooks saved_hooks(const std::string& dir) {
  std::string text;
  if (!read_file(dir + "/hooks.json", text)) return {};
  return parse_hooks_text(text);
}

// poststart: once the program runs, in our namespaces; a failure is only a warning (the spec).
void run_poststart(const std::string& dir) {
  Hooks h = saved_hooks(dir);
  if (h.poststart.empty()) return;
  auto st = read_state(dir);
  if (!st) return;
  st->status = "running";
  run_hooks_warning(h.poststart, "poststart", state_json(*st));
}

void remove_container(const std::string& dir, const State& s) {
  Hooks hooks = saved_hooks(dir);
  // Tell the monitor to go (it refuses while the container runs) and wait until it has exited,
  // so that "deleted" means no monitor is left; then remove what is left.
  int fd = ctl_connect(dir);
  if (fd >= 0) {
    // Opened while the monitor is known alive (we are connected to it), so the pid is its own.
    int pidfd = s.monitor_pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, s.monitor_pid, 0)) : -1;
    try {
      ctl_roundtrip(fd, "{\"op\":\"shutdown\"}");
    } catch (...) {
    }
    close(fd);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, 2000);  // readable once the monitor has exited (reaped or not)
      close(pidfd);
    }
  }
  Cgroup::from_paths(s.cgroup_paths).destroy();
  remove_tree(dir);
  // poststop: once the container is gone, before delete returns; failures are warnings.
  if (!hooks.poststop.empty()) {
    State gone = s;
    gone.status = "stopped";
    run_hooks_warning(hooks.poststop, "poststop", state_json(gone));
  }
}

int do_delete(const Args& a, const std::string& id) {
  std::string dir = state_dir(a, id);
  auto st = read_state(dir);
  if (!st) {
    if (is_dir(dir)) {  // a create that died half-way: nothing to signal
      remove_tree(dir);
      return 0;
    }
    if (has(a, "--force")) return 0;
    throw Fail("container \"" + id + "\" does not exist");
  }
  std::string status = status_of(dir, *st);
  if (status != "stopped") {
    if (status == "running" || status == "paused") {
      if (!has(a, "--force")) throw Fail("cannot delete container \"" + id + "\" that is not stopped: " + status);
    }
    // created (never started) or forced: kill everything and wait for the monitor to see it.
    int fd = ctl_connect(dir);
    if (fd >= 0) {
      try {
        check_ok(ctl_roundtrip(fd, "{\"op\":\"kill\",\"signal\":9,\"all\":true}"));
      } catch (...) {
      }
      close(fd);
      fd = ctl_connect(dir);
      if (fd >= 0) {
        try {
          ctl_roundtrip(fd, "{\"op\":\"wait\"}");
        } catch (...) {
        }
        close(fd);
      }
    } else {
      // monitor gone: signal directly
      for (pid_t p : Cgroup::from_paths(st->cgroup_paths).pids()) kill(p, SIGKILL);
      if (alive(st->pid)) kill(st->pid, SIGKILL);
    }
  }
  remove_container(dir, *st);
  return 0;
}

int do_start(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  check_ok(ctl_call(dir, "{\"op\":\"start\"}"));
  run_poststart(dir);
  return 0;
}

int do_state(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  auto st = read_state(dir);
  if (!st) throw Fail("container \"" + id + "\" has no state (creation failed?)");
  st->status = status_of(dir, *st);
  printf("%s\n", state_json(*st).c_str());
  return 0;
}

// "128m", "1g", "4096" → bytes (runc's update flags take docker's units); -1 stays -1 (unlimited).
int64_t bytes_flag(const std::string& name, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(v.c_str(), &end, 10);
  if (errno || end == v.c_str()) throw Fail("update: " + name + " \"" + v + "\" is not a number");
  std::string unit = end;
  for (auto& c : unit) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, long long> kUnits = {{"", 1},       {"b", 1},         {"k", 1LL << 10}, {"kb", 1LL << 10},
                                                          {"m", 1LL << 20}, {"mb", 1LL << 20}, {"g", 1LL << 30}, {"gb", 1LL << 30}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) throw Fail("update: " + name + " \"" + v + "\" has an unknown unit");
  return n * it->second;
}

// `update [--resources FILE|-] [--memory …] ID`: new limits for a live container, as runc's update. The
// flags override the file's fields; only what is given changes.
int do_update(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  auto st = read_state(dir);
  if (!st) throw Fail("container \"" + id + "\" has no state (creation failed?)");
  if (status_of(dir, *st) == "stopped") throw Fail("container \"" + id + "\" is stopped: nothing to update");
  json r = json::object();
  if (has(a, "--resources")) {
    std::string path = flag(a, "--resources"), text;
    if (path == "-") {
      char buf[4096];
      ssize_t n;
      while ((n = read(0, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    } else if (!read_file(path, text)) {
      fail_errno("open " + path);
    }
    r = json::parse(text, nullptr, false);
    if (r.is_discarded() || !r.is_object()) throw Fail("update: --resources: not a JSON object");
  }
  auto num = [&](const char* f, const char* sect, const char* key, bool bytes) {
    if (!has(a, f)) return;
    std::string v = flag(a, f);
    r[sect][key] = bytes ? bytes_flag(f, v) : static_cast<int64_t>(bytes_flag(f, v));
  };
  num("--memory", "memory", "limit", true);
  num("--memory-swap", "memory", "swap", true);
  num("--memory-reservation", "memory", "reservation", true);
  num("--cpu-shares", "cpu", "shares", false);
  num("--cpu-period", "cpu", "period", false);
  num("--cpu-quota", "cpu", "quota", false);
  num("--pids-limit", "pids", "limit", false);
  num("--blkio-weight", "blockIO", "weight", false);
  if (has(a, "--cpuset-cpus")) r["cpu"]["cpus"] = flag(a, "--cpuset-cpus");
  if (has(a, "--cpuset-mems")) r["cpu"]["mems"] = flag(a, "--cpuset-mems");
  if (r.contains("devices")) throw Fail("update: resources.devices cannot be changed on a live container");
  Resources res = parse_resources_text(r.dump(), "resources");
  Cgroup::from_paths(st->cgroup_paths).update(res);
  return 0;
}

int do_kill(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  std::string sig = a.positional.size() > 1 ? a.positional[1] : flag(a, "--signal", "SIGTERM");
  int n = signal_number(sig);
  if (n <= 0) throw Fail("invalid signal \"" + sig + "\"");
  bool all = has(a, "--all");
  int fd = ctl_connect(dir);
  if (fd < 0) {
    auto st = read_state(dir);
    if (!st || read_exit(dir) || !alive(st->pid)) throw Fail("container \"" + id + "\" is not running");
    if (all) {
      for (pid_t p : Cgroup::from_paths(st->cgroup_paths).pids()) kill(p, n);
    } else if (kill(st->pid, n) < 0) {
      fail_errno("kill");
    }
    return 0;
  }
  std::string r = ctl_roundtrip(fd, "{\"op\":\"kill\",\"signal\":" + std::to_string(n) + ",\"all\":" + (all ? "true" : "false") + "}");
  close(fd);
  check_ok(r);
  return 0;
}

int do_simple(const Args& a, const std::string& id, const char* op) {
  std::string dir = existing_dir(a, id);
  check_ok(ctl_call(dir, std::string("{\"op\":\"") + op + "\"}"));
  return 0;
}

int do_list(const Args& a) {
  std::string format = flag(a, "--format", "table");
  if (format != "table" && format != "json") throw Fail("list: --format must be table or json");
  bool quiet = has(a, "--quiet") || has(a, "-q");
  json all = json::array();
  std::vector<std::string> rows;
  if (DIR* d = opendir(a.root.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string dir = a.root + "/" + e->d_name;
      auto st = read_state(dir);
      if (!st) continue;
      std::string status = status_of(dir, *st);
      int pid = status == "stopped" ? 0 : st->pid;
      all.push_back({{"ociVersion", "1.0.2"}, {"id", st->id}, {"pid", pid}, {"status", status}, {"bundle", st->bundle},
                     {"rootfs", ""}, {"created", st->created}, {"owner", "root"}});
      rows.push_back(quiet ? st->id
                           : st->id + "\t" + std::to_string(pid) + "\t" + status + "\t" + st->bundle + "\t" + st->created +
                                 "\troot");
    }
    closedir(d);
  }
  if (format == "json") {
    printf("%s\n", all.dump().c_str());
    return 0;
  }
  if (!quiet) printf("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
  for (auto& r : rows) printf("%s\n", r.c_str());
  return 0;
}

// `ps [--format table|json] ID [ps args]`: json is the pid list (docker top reads it); the table is
// ps(1)'s output (default -ef) with only the container's processes, as runc prints it.
int do_ps(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  auto st = read_state(dir);
  if (!st) throw Fail("container \"" + id + "\" has no state");
  std::string format = flag(a, "--format", "table");
  if (format != "table" && format != "json") throw Fail("ps: --format must be table or json");
  auto pids = Cgroup::from_paths(st->cgroup_paths).pids();
  if (format == "json") {
    json j = json::array();
    for (pid_t p : pids) j.push_back(p);
    printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::vector<std::string> ps_args(a.positional.begin() + 1, a.positional.end());
  if (ps_args.empty()) ps_args = {"-ef"};
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) fail_errno("pipe");
  pid_t child = fork();
  if (child < 0) fail_errno("fork ps");
  if (child == 0) {
    dup2(out[1], 1);
    std::vector<char*> argv = {const_cast<char*>("ps")};
    for (auto& x : ps_args) argv.push_back(const_cast<char*>(x.c_str()));
    argv.push_back(nullptr);
    execvp("ps", argv.data());
    dprintf(2, "shoal-runtime: ps: %s\n", strerror(errno));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Fail("ps " + ps_args[0] + " failed");
  auto lines = split(text, '\n');
  if (lines.empty()) return 0;
  // the PID column of the header
  auto header = split(lines[0], ' ');
  int col = -1, k = 0;
  for (auto& h : header) {
    if (h.empty()) continue;
    if (h == "PID") col = k;
    k++;
  }
  if (col < 0) throw Fail("ps: the output of ps " + ps_args[0] + " has no PID column");
  printf("%s\n", lines[0].c_str());
  for (size_t i = 1; i < lines.size(); i++) {
    int c = 0;
    for (auto& f : split(lines[i], ' ')) {
      if (f.empty()) continue;
      if (c++ == col) {
        pid_t p = atoi(f.c_str());
        for (pid_t q : pids)
          if (q == p) printf("%s\n", lines[i].c_str());
        break;
      }
    }
  }
  return 0;
}

int do_events(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  if (!has(a, "--stats")) throw Fail("events: only --stats is supported");
  std::string r = ctl_call(dir, "{\"op\":\"stats\"}");
  check_ok(r);
  auto j = json::parse(r);
  j.erase("ok");
  printf("%s\n", j.dump().c_str());
  return 0;
}

// Waits for the container's exit, forwarding INT/TERM/HUP/QUIT to it, as `runc run` does.
int wait_forwarding(const std::string& dir) {
  int fd = ctl_connect(dir);
  if (fd < 0) throw Fail("monitor is gone");
  std::string line = "{\"op\":\"wait\"}\n";
  write_all(fd, line.data(), line.size());
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  std::string buf;
  for (;;) {
    pollfd pfd[2] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll");
    }
    if (pfd[1].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) {
        try {
          ctl_call(dir, "{\"op\":\"kill\",\"signal\":" + std::to_string(si.ssi_signo) + "}");
        } catch (...) {
        }
      }
    }
    if (pfd[0].revents & (POLLIN | POLLHUP)) {
      char tmp[1024];
      ssize_t n = read(fd, tmp, sizeof tmp);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
      if (buf.find('\n') != std::string::npos) break;
    }
  }
  close(fd);
  close(sfd);
  auto j = json::parse(buf.substr(0, buf.find('\n')), nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("ok", false)) return j.value("exitCode", 255);
  if (auto e = read_exit(dir)) return e->exit_code;
  throw Fail("lost the container's exit status");
}

// runc mode: the container's process is our own child (the monitor cloned it with CLONE_PARENT);
// wait for it ourselves, forwarding INT/TERM/HUP/QUIT to it as `runc run` does.
int wait_child_forwarding(pid_t pid) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) fail_errno("pidfd_open of the container's process");
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  for (;;) {
    pollfd pfd[2] = {{pidfd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll");
    }
    if (pfd[1].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) kill(pid, static_cast<int>(si.ssi_signo));
    }
    if (pfd[0].revents & POLLIN) break;
  }
  close(pidfd);
  close(sfd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail_errno("wait for the container's process");
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int do_run(const Args& a, const std::string& id) {
  bool detach = has(a, "--detach");
  do_create(a, id, !has(a, "--log-path"));
  std::string dir = state_dir(a, id);
  auto created = read_state(dir);  // the pid before start (a stopped state shows none)
  pid_t child = created ? created->pid : 0;
  try {
    check_ok(ctl_call(dir, "{\"op\":\"start\"}"));
    trace("started");
    run_poststart(dir);
  } catch (const Fail&) {
    Args d = a;
    d.flags["--force"] = "";
    do_delete(d, id);
    throw;
  }
  if (detach) return 0;
  int code;
  if (has(a, "--log-path")) {
    code = wait_forwarding(dir);
  } else {
    if (child <= 0) throw Fail("container \"" + id + "\" has no pid");
    code = wait_child_forwarding(child);
  }
  trace("exit observed");
  auto st = read_state(dir);
  if (st) remove_container(dir, *st);
  trace("removed");
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return code;
}

// ----- exec -----

struct RawTerminal {
  termios saved{};
  bool active = false;
  void enable() {
    if (!isatty(0) || tcgetattr(0, &saved) < 0) return;
    termios raw = saved;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0) active = true;
  }
  ~RawTerminal() {
    if (active) tcsetattr(0, TCSANOW, &saved);
  }
};

// Copies our stdin to the stream and the stream (raw or multiplexed) to stdout/stderr until EOF.
void pump_stream(int fd, std::string pending, bool tty) {
  bool in_open = true;
  std::string acc = std::move(pending);
  auto emit = [&](bool final) {
    if (tty) {
      write_all(1, acc.data(), acc.size());
      acc.clear();
      return;
    }
    while (acc.size() >= 8) {
      uint32_t len = (static_cast<uint8_t>(acc[4]) << 24) | (static_cast<uint8_t>(acc[5]) << 16) |
                     (static_cast<uint8_t>(acc[6]) << 8) | static_cast<uint8_t>(acc[7]);
      if (acc.size() < 8 + len) break;
      write_all(acc[0] == 2 ? 2 : 1, acc.data() + 8, len);
      acc.erase(0, 8 + len);
    }
    (void)final;
  };
  emit(false);
  for (;;) {
    pollfd pfd[2] = {{fd, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents & (POLLIN | POLLHUP)) {
      char b[8192];
      ssize_t n = read(0, b, sizeof b);
      if (n <= 0) {
        in_open = false;
        shutdown(fd, SHUT_WR);
      } else {
        write_all(fd, b, static_cast<size_t>(n));
      }
    }
    if (pfd[1].revents & POLLNVAL) in_open = false;
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char b[32768];
      ssize_t n = read(fd, b, sizeof b);
      if (n <= 0) break;
      acc.append(b, static_cast<size_t>(n));
      emit(false);
    }
  }
}

// `exec --detach` as runc: the process gets our stdio (or a terminal sent to `console`) and is our
// child, so once we exit it belongs to our caller's reaper (containerd's shim waits for it there).
// exec-helper, run from a sealed copy of us, joins the container and clones it with CLONE_PARENT.
pid_t exec_detached(const Args& a, const State& st, const json& proc, const std::string& user, const std::string& console) {
  int exe = sealed_copy_of("/proc/self/exe", "shoal-runtime");
  if (exe < 0) fail_errno("exec: make a sealed copy of shoal-runtime");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) fail_errno("socketpair");
  std::string cgroups;
  for (auto& f : Cgroup::from_paths(st.cgroup_paths).join_files()) cgroups += (cgroups.empty() ? "" : ",") + f;
  std::vector<std::string> args = {"shoal-runtime", "--root", a.root, "exec-helper", "--init-pid", std::to_string(st.pid),
                                   "--bundle", st.bundle, "--sync", std::to_string(sv[1]), "--stdio", "0,1,2",
                                   "--cgroups", cgroups, "--user", user, "--process", proc.dump()};
  std::vector<char*> argv;
  for (auto& x : args) argv.push_back(const_cast<char*>(x.c_str()));
  argv.push_back(nullptr);
  fflush(stdout);
  fflush(stderr);
  pid_t helper = fork();
  if (helper < 0) fail_errno("fork exec-helper");
  if (helper == 0) {
    close(sv[0]);
    fcntl(sv[1], F_SETFD, 0);
    exec_fd(exe, argv.data(), environ);
    chan_fail(sv[1], "exec: start the sealed copy: " + errno_text(errno), 126);
  }
  close(exe);
  close(sv[1]);
  std::string error;
  pid_t pid = 0;
  for (;;) {
    char kind;
    std::string text;
    int fd = -1;
    if (!chan_recv(sv[0], kind, text, &fd)) break;  // EOF: exec'd
    if (kind == 'P') pid = atoi(text.c_str());
    if (kind == 'T') {
      try {
        if (console.empty()) throw Fail("exec: a terminal needs --console-socket");
        send_fd_to_socket(console, fd, "exec-pty");
      } catch (const std::exception& e) {
        error = e.what();
      }
      close(fd);
      if (!error.empty()) {
        if (pid > 0) kill(pid, SIGKILL);
        break;
      }
    }
    if (kind == 'E') {
      error = text;
      break;
    }
  }
  close(sv[0]);
  while (waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (error.empty() && pid <= 0) error = "exec: exec-helper exited without starting the process";
  if (!error.empty()) {
    if (pid > 0) waitpid(pid, nullptr, 0);
    throw Fail(error);
  }
  return pid;
}

int do_exec(const Args& a, const std::string& id) {
  std::string dir = existing_dir(a, id);
  auto st = read_state(dir);
  if (!st) throw Fail("container \"" + id + "\" has no state");
  json proc;
  std::string user_name;
  if (has(a, "--process")) {
    std::string text;
    if (!read_file(flag(a, "--process"), text)) fail_errno("read " + flag(a, "--process"));
    proc = json::parse(text, nullptr, false);
    if (proc.is_discarded()) throw Fail("--process: not valid JSON");
  } else {
    if (a.positional.size() < 2) throw Fail("exec: a command is required");
    std::string cfg;
    json base;
    if (read_file(st->bundle + "/config.json", cfg)) base = json::parse(cfg, nullptr, false);
    proc = (!base.is_discarded() && base.contains("process")) ? base["process"] : json::object();
    proc["args"] = std::vector<std::string>(a.positional.begin() + 1, a.positional.end());
    proc["terminal"] = has(a, "--tty");
    if (has(a, "--cwd")) proc["cwd"] = flag(a, "--cwd");
    if (!proc.contains("env")) proc["env"] = json::array();
    for (auto& e : a.multi_env) proc["env"].push_back(e);
    if (has(a, "--user")) {
      std::string u = flag(a, "--user");
      auto colon = u.find(':');
      std::string uu = u.substr(0, colon), gg = colon == std::string::npos ? "" : u.substr(colon + 1);
      bool numeric = !uu.empty() && uu.find_first_not_of("0123456789") == std::string::npos &&
                     gg.find_first_not_of("0123456789") == std::string::npos;
      if (numeric) {
        proc["user"] = {{"uid", std::stoul(uu)}, {"gid", gg.empty() ? 0UL : std::stoul(gg)}};
      } else {
        user_name = u;
      }
    }
    proc.erase("consoleSize");
  }
  bool tty = proc.value("terminal", false);
  bool detach = has(a, "--detach");
  if (tty && isatty(0)) {
    winsize ws{};
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) proc["consoleSize"] = {{"height", ws.ws_row}, {"width", ws.ws_col}};
  }
  json req = {{"op", "exec"}, {"process", proc}, {"detach", detach}};
  if (!user_name.empty()) req["user"] = user_name;
  // As runc: a detached process keeps our stdio (passed to the monitor), a terminal goes to
  // --console-socket.
  std::string console = flag(a, "--console-socket");
  if (has(a, "--console-socket") && (!tty || !detach)) throw Fail("exec: --console-socket needs --detach and --tty");
  if (tty && detach && console.empty()) throw Fail("exec: --detach with --tty needs --console-socket");
  if (!console.empty()) {
    if (console[0] != '/') {
      char cwd[PATH_MAX];
      if (!getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
      console = std::string(cwd) + "/" + console;
    }
  }
  if (detach) {
    if (status_of(dir, *st) != "running") throw Fail("container \"" + id + "\" is not running");
    pid_t pid = exec_detached(a, *st, proc, user_name, console);
    if (has(a, "--pid-file")) write_file_atomic(flag(a, "--pid-file"), std::to_string(pid));
    return 0;
  }
  int fd = ctl_connect(dir);
  if (fd < 0) throw Fail("container \"" + id + "\" is not running");
  std::string rest;
  std::string r = ctl_roundtrip(fd, req.dump(), &rest);
  check_ok(r);
  auto reply = json::parse(r);
  std::string exec_id = reply.value("execId", "");
  if (has(a, "--pid-file")) write_file_atomic(flag(a, "--pid-file"), std::to_string(reply.value("pid", 0)));
  if (detach) {
    close(fd);
    return 0;
  }
  {
    RawTerminal raw;
    if (tty) raw.enable();
    pump_stream(fd, rest, tty);
  }
  close(fd);
  std::string s = ctl_call(dir, "{\"op\":\"exec-state\",\"execId\":\"" + exec_id + "\"}");
  check_ok(s);
  auto j = json::parse(s);
  return j["exitCode"].is_number() ? j["exitCode"].get<int>() : 255;
}

// `seccomp-prepare`: compiles the bundle's seccomp filter (linux.seccomp of its config.json, nothing else
// read) into the cache under --root, where `create` looks first. libseccomp's compile of docker's default
// profile is ~10-13 ms of a container's create: shoald has it done at its start, so that a node's first
// container does not pay it.
int do_seccomp_prepare(const Args& a) {
  if (auto sc = load_seccomp(flag(a, "--bundle", "."))) seccomp_program(*sc, a.root + "/.seccomp-cache");
  return 0;
}

// Hidden verb: run by the monitor (born in the container's pid namespace) to set up one exec'd
// process; reports errors on --sync like the container's init does.
int do_exec_helper(const Args& a) {
  int sync = atoi(flag(a, "--sync", "-1").c_str());
  try {
    // The monitor starts us from a sealed copy; a host file must never enter the container.
    if (!running_sealed()) throw Fail("exec-helper: not running from a sealed copy of shoal-runtime; refusing to enter the container");
    Spec spec;
    spec.bundle = flag(a, "--bundle");
    if (auto sc = load_seccomp(spec.bundle)) spec.seccomp_bpf = seccomp_program(*sc, a.root + "/.seccomp-cache");
    ExecPlan plan;
    plan.spec = &spec;
    plan.process = parse_process(flag(a, "--process"), "process");
    plan.user = flag(a, "--user");
    plan.init_pid = atoi(flag(a, "--init-pid").c_str());
    for (auto& f : split(flag(a, "--cgroups"), ','))
      if (!f.empty()) plan.cgroup_procs.push_back(f);
    plan.sync = sync;
    auto io = split(flag(a, "--stdio", "-1,-1,-1"), ',');
    for (int i = 0; i < 3 && i < static_cast<int>(io.size()); i++) plan.stdio[i] = atoi(io[i].c_str());
    for (int fd : {plan.sync, plan.stdio[0], plan.stdio[1], plan.stdio[2]})
      if (fd > 2) fcntl(fd, F_SETFD, FD_CLOEXEC);
    exec_child(plan);
  } catch (const std::exception& e) {
    chan_fail(sync, e.what(), 126);
  }
}

const char kUsage[] =
    "usage: shoal-runtime [global flags] COMMAND [flags] [ID] [args]\n"
    "\n"
    "An OCI runtime (runc's command line) whose containers are each watched by a small monitor.\n"
    "\n"
    "Global flags:\n"
    "  --root DIR           state directory (default /run/shoal-runtime)\n"
    "  --log FILE           write errors (and warnings) there as well as to stderr\n"
    "  --log-format FMT     text or json (one {\"level\",\"msg\",\"time\"} object a line)\n"
    "  --debug              accepted (no more output)\n"
    "  --version, -v        print the version\n"
    "  --help, -h           this text\n"
    "\n"
    "Commands:\n"
    "  create   [--bundle DIR] [--pid-file F] [--console-socket S] ID   create a container (process not yet run)\n"
    "  start    ID                          run the container's process\n"
    "  run      [--bundle DIR] [--detach] [--pid-file F] [--console-socket S] ID   create + start (+ wait)\n"
    "  state    ID                          print the OCI state as JSON\n"
    "  kill     [--all] ID [SIGNAL]         signal the process (default SIGTERM)\n"
    "  delete   [--force] ID                remove a stopped (or, forced, any) container\n"
    "  exec     [--tty] [--detach] [--pid-file F] [--console-socket S] [--process FILE] [--cwd D]\n"
    "           [--env K=V]... [--user U[:G]] ID [CMD ARGS...]   run another process in the container\n"
    "  pause    ID                          freeze every process\n"
    "  resume   ID                          thaw them\n"
    "  ps       [--format table|json] ID [PS ARGS]   processes of the container\n"
    "  list     [--format table|json] [--quiet]      containers under --root\n"
    "  update   [--resources FILE|-] [--memory B] [--memory-swap B] [--memory-reservation B] [--cpu-shares N]\n"
    "           [--cpu-period US] [--cpu-quota US] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N]\n"
    "           [--blkio-weight N] ID      change resources of a live container\n"
    "  events   --stats ID                  one stats object as JSON\n"
    "  features                             what this runtime supports, as JSON\n"
    "  seccomp-prepare [--bundle DIR]       compile the bundle's seccomp filter into the cache under --root\n";

// `features`: the runtime-spec's features document, from what this build and host support.
int do_features() {
  json f;
  f["ociVersionMin"] = "1.0.0";
  f["ociVersionMax"] = "1.0.2";
  f["hooks"] = {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};
  f["mountOptions"] = {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime",
                       "nodev", "nodiratime", "noexec", "nosuid", "private", "rbind", "relatime", "remount", "ro",
                       "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime",
                       "suid", "sync", "unbindable"};
  json lx;
  lx["namespaces"] = {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"};
  json caps = json::array();
  for (auto& c : all_capability_names()) caps.push_back(c);
  lx["capabilities"] = caps;
  bool v2 = cgroup_mode() == CgroupMode::V2;
  lx["cgroup"] = {{"v1", !v2}, {"v2", v2}, {"systemd", false}, {"systemdUser", false}};
  lx["seccomp"] = {{"enabled", true}};
  lx["apparmor"] = {{"enabled", false}};
  lx["selinux"] = {{"enabled", false}};
  f["linux"] = lx;
  f["annotations"] = {{"org.shoal.runtime.monitor", "per-container shoal-monitor"}};
  printf("%s\n", f.dump(4).c_str());
  return 0;
}

// With --log, errors also go to that file (containerd's shim reads the last one from there).
void log_error(const Args& a, const std::string& msg) {
  if (a.log.empty()) return;
  int fd = open(a.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string line;
  if (a.log_format == "json") {
    line = json{{"level", "error"}, {"msg", msg}, {"time", rfc3339_nano(now_ns())}}.dump() + "\n";
  } else {
    line = "time=\"" + rfc3339_nano(now_ns()) + "\" level=error msg=" + json(msg).dump() + "\n";
  }
  write_all(fd, line.data(), line.size());
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing in a container may open our /proc/PID files (exe, mem, fds) while we set it up;
  // the user's program becomes dumpable again at its execve.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  trace("main");
  Args a;
  try {
    a = parse_args(argc, argv);
    const std::string& v = a.verb;
    if (a.version || v == "version") {
      printf("shoal-runtime version 0.1.0\nspec: 1.0.2\n");
      return 0;
    }
    if (a.help) {
      fputs(kUsage, stdout);
      return 0;
    }
    if (v == "create" || v == "run") g_shared_copy = ensure_sealed(argv);
    if (v == "list") return do_list(a);
    if (v == "features") return do_features();
    if (v == "exec-helper") return do_exec_helper(a);
    if (v == "seccomp-prepare") return do_seccomp_prepare(a);
    std::string id = need_id(a);
    if (v == "create") {
      // Without --log-path (runc's create) the container's process gets our stdio; with it
      // (shoald) the monitor owns the output and writes the log.
      do_create(a, id, !has(a, "--log-path"));
      return 0;
    }
    if (v == "start") return do_start(a, id);
    if (v == "state") return do_state(a, id);
    if (v == "kill") return do_kill(a, id);
    if (v == "delete") return do_delete(a, id);
    if (v == "run") return do_run(a, id);
    if (v == "exec") return do_exec(a, id);
    if (v == "pause") return do_simple(a, id, "pause");
    if (v == "resume") return do_simple(a, id, "resume");
    if (v == "ps") return do_ps(a, id);
    if (v == "update") return do_update(a, id);
    if (v == "events") return do_events(a, id);
    throw Fail("unknown command \"" + v + "\"");
  } catch (const std::exception& e) {
    fprintf(stderr, "shoal-runtime: %s\n", e.what());
    log_error(a, e.what());
    return 1;
  }
}
