#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "util.h"

using json = nlohmann::json;

namespace shoal {

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Fail("invalid config.json: hooks." + field + ": " + why);
}

std::vector<std::string> strings(const json& h, const char* key, const std::string& field) {
  std::vector<std::string> out;
  auto it = h.find(key);
  if (it == h.end() || it->is_null()) return out;
  if (!it->is_array()) bad(field + "." + key, "must be an array of strings");
  for (auto& s : *it) {
    if (!s.is_string()) bad(field + "." + key, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<Hook> parse_list(const json& hooks, const char* name) {
  std::vector<Hook> out;
  auto it = hooks.find(name);
  if (it == hooks.end() || it->is_null()) return out;
  if (!it->is_array()) bad(name, "must be an array");
  for (size_t i = 0; i < it->size(); i++) {
    const json& h = (*it)[i];
    std::string field = std::string(name) + "[" + std::to_string(i) + "]";
    if (!h.is_object()) bad(field, "must be an object");
    Hook k;
    auto p = h.find("path");
    if (p == h.end() || !p->is_string() || p->get<std::string>().empty()) bad(field + ".path", "is required");
    k.path = p->get<std::string>();
    if (k.path[0] != '/') bad(field + ".path", "must be an absolute path");
    k.args = strings(h, "args", field);
    k.env = strings(h, "env", field);
    auto t = h.find("timeout");
    if (t != h.end() && !t->is_null()) {
      if (!t->is_number_integer() || t->get<int64_t>() <= 0 || t->get<int64_t>() > 86400)
        bad(field + ".timeout", "must be a positive number of seconds");
      k.timeout = static_cast<int>(t->get<int64_t>());
    }
    out.push_back(std::move(k));
  }
  return out;
}

// Writes what the pipe takes without blocking: the state fits a pipe's buffer, and a hook that
// never reads its stdin must not hang us.
void set_nonblocking_write(int fd, const std::string& data) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

// Runs one hook; "" on success, else why it failed.
std::string run_one(const Hook& h, const std::string& state) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0) return "pipe: " + errno_text(errno);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : h.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(in[0]), close(in[1]);
    return "fork: " + errno_text(e);
  }
  if (pid == 0) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, nullptr);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    setpgid(0, 0);  // its own group: a timeout kills what it started too
    dup2(in[0], 0);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    execve(h.path.c_str(), argv.data(), envp.data());
    dprintf(2, "hook %s: %s\n", h.path.c_str(), strerror(errno));
    _exit(127);
  }
  close(in[0]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  // The hook may not read its stdin at all: a full pipe or a closed one is not its failure.
  // (The disposition is restored: an ignored SIGPIPE would outlive the init's execve.)
  auto old = signal(SIGPIPE, SIG_IGN);
  set_nonblocking_write(in[1], state);
  signal(SIGPIPE, old);
  close(in[1]);
  std::string why;
  if (h.timeout > 0 && pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int left = h.timeout * 1000, rc;
    while ((rc = poll(&p, 1, left)) < 0 && errno == EINTR) {
    }
    if (rc == 0) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      why = "timed out after " + std::to_string(h.timeout) + "s (killed)";
    }
  }
  if (pidfd >= 0) close(pidfd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!why.empty()) return why;
  if (WIFSIGNALED(status)) return std::string("killed by ") + signal_name(WTERMSIG(status));
  if (WEXITSTATUS(status) != 0) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "";
}

}  // namespace

Hooks parse_hooks_text(const std::string& text) {
  Hooks k;
  if (text.empty()) return k;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Fail("invalid config.json: hooks: must be an object");
  for (auto& [name, v] : j.items()) {
    static const char* kKnown[] = {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};
    bool known = false;
    for (auto* n : kKnown) known = known || name == n;
    if (!known) bad(name, "unknown hook kind");
    (void)v;
  }
  k.prestart = parse_list(j, "prestart");
  k.create_runtime = parse_list(j, "createRuntime");
  k.create_container = parse_list(j, "createContainer");
  k.start_container = parse_list(j, "startContainer");
  k.poststart = parse_list(j, "poststart");
  k.poststop = parse_list(j, "poststop");
  return k;
}

void run_hooks(const std::vector<Hook>& hooks, const char* phase, const std::string& state) {
  for (auto& h : hooks) {
    std::string why = run_one(h, state);
    if (!why.empty()) throw Fail(std::string(phase) + " hook " + h.path + ": " + why);
  }
}

void run_hooks_warning(const std::vector<Hook>& hooks, const char* phase, const std::string& state) {
  for (auto& h : hooks) {
    std::string why = run_one(h, state);
    if (!why.empty()) fprintf(stderr, "shoal-runtime: warning: %s hook %s: %s\n", phase, h.path.c_str(), why.c_str());
  }
}

}  // namespace shoal
