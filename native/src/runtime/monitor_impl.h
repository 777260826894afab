// The monitor's state and event loop, shared by the setup in shoal-runtime and by the lean
// re-exec'd shoal-monitor (see monitor.h).
#pragma once
#include <sys/epoll.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cgroups.h"
#include "logs.h"
#include "minijson.h"
#include "monitor.h"
#include "state.h"

namespace shoal {

enum class Role { Listen, Signal, Timer, InitPidfd, InitOut, InitErr, InitPty, InitIn, Client, ExecOut, ExecErr, ExecPty, ExecIn };

struct Client {
  int fd;
  enum Kind { Ctl, Attach, Exec } kind = Ctl;
  std::string in, out;
  bool want_out = false, want_err = false, want_in = false;
  bool waiting = false, closing = false, read_eof = false;
  std::string exec_id;
};

struct ExecProc {
  std::string id;
  pid_t pid = 0;
  bool tty = false, running = true;
  int exit_code = -1;
  int out = -1, err = -1, pty = -1, in = -1;
  int client = -1;
};

void set_nonblock(int fd);
void shed_file_pages();

class Monitor {
 public:
  explicit Monitor(const MonitorOptions& o) : o_(o) {}
  // big binary: creates cgroup + init, reports on result_fd
  void setup(Spec& spec, int result_fd);
  // re-exec'd lean monitor: takes over what setup made (argv from lean_argv())
  void resume(int argc, char** argv);
  std::vector<std::string> lean_argv() const;
  [[noreturn]] void run();

 private:
  // setup
  void spawn_init(Spec& spec);
  void cleanup_failed();
  void start_loop();
  // loop plumbing
  void watch(int fd, Role r, uint32_t ev = EPOLLIN);
  void unwatch(int fd);
  void update_events(int fd);
  void queue(int fd, const std::string& data);
  void flush_queue(int fd);
  void close_fd(int& fd);
  // events
  void on_signal();
  void on_init_output(int& fd, int stream);
  void on_client(int fd, uint32_t ev);
  void on_exec_output(int fd, int stream);
  void handle_request(Client& c, const std::string& line);
  void drop_client(int fd);
  void reap_clients();  // drops clients marked closing whose output is flushed
  void init_exited(int status);
  void exec_exited(ExecProc& e, int status);
  void forget_old_execs();
  void drain_exec(ExecProc& e);
  void broadcast(int stream, const char* data, size_t n);
  void save_state();
  std::string start_exec(Client& c, const JsonObject& req);
  [[noreturn]] void finish();

  MonitorOptions o_;
  // what the loop needs of the spec
  bool terminal_ = false, stdin_once_ = false;
  Cgroup cg_;
  State state_;
  ExitStatus exit_;
  bool exited_ = false, started_ = false, shutdown_ = false;
  pid_t init_ = 0;
  int sync_ = -1, init_out_ = -1, init_err_ = -1, init_pty_ = -1, init_in_ = -1;
  int ep_ = -1, sig_ = -1, listen_ = -1, timer_ = -1;
  // runc mode (no --log-path): the init is not our child (CLONE_PARENT: our caller's, then its
  // reaper's, as with runc, so containerd's shim reaps it); we see its exit on this pidfd.
  int init_pidfd_ = -1;
  int runtime_fd_ = -1;  // sealed copy of shoal-runtime that starts exec-helper, or -1
  std::map<int, Role> roles_;
  std::map<int, uint32_t> base_events_;
  std::map<int, std::string> pending_;  // unwritten bytes per fd
  std::map<int, std::unique_ptr<Client>> clients_;
  std::map<std::string, ExecProc> execs_;
  // Finished execs, oldest first: their exit codes stay readable (exec-state) for the newest
  // kMaxFinishedExecs only, so a container probed by health checks for days keeps a bounded table.
  std::vector<std::string> finished_execs_;
  static constexpr size_t kMaxFinishedExecs = 256;
  std::map<int, std::string> exec_by_fd_;
  JsonFileLog log_;
  std::string sock_path_;
  int result_fd_ = -1;
  std::vector<int> held_ns_;
};

}  // namespace shoal
