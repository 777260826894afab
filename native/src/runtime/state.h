// The state directory <root>/<id>/: state.json and exit.json (see PROTOCOL.md).
#pragma once
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace shoal {

struct State {
  std::string id, status, bundle, created, started;
  pid_t pid = 0, monitor_pid = 0;
  std::map<std::string, std::string> annotations, cgroup_paths;
};

struct ExitStatus {
  int exit_code = 0;
  std::string signal;  // "" when exited normally
  bool oom_killed = false;
  std::string finished_at;
};

std::string state_json(const State& s);
std::string exit_json(const ExitStatus& e, bool with_ok);  // with_ok: the `wait` reply
void write_state(const std::string& dir, const State& s);
void write_exit(const std::string& dir, const ExitStatus& e);
// Readers used by the CLI verbs (nlohmann); nullopt when the file is missing.
std::optional<State> read_state(const std::string& dir);
std::optional<ExitStatus> read_exit(const std::string& dir);

}  // namespace shoal
