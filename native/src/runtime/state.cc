#include "state.h"

#include "util.h"

namespace shoal {

static std::string map_json(const std::map<std::string, std::string>& m) {
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : m) {
    if (!first) out += ",";
    first = false;
    out += json_str(k) + ":" + json_str(v);
  }
  return out + "}";
}

std::string state_json(const State& s) {
  std::string out = "{\"ociVersion\":\"1.0.2\",\"id\":" + json_str(s.id) + ",\"status\":" + json_str(s.status) +
                    ",\"pid\":" + std::to_string(s.status == "stopped" ? 0 : s.pid) + ",\"bundle\":" + json_str(s.bundle) +
                    ",\"annotations\":" + map_json(s.annotations) + ",\"monitorPid\":" + std::to_string(s.monitor_pid) +
                    ",\"created\":" + json_str(s.created);
  if (!s.started.empty()) out += ",\"started\":" + json_str(s.started);
  out += ",\"cgroupPaths\":" + map_json(s.cgroup_paths) + "}";
  return out;
}

std::string exit_json(const ExitStatus& e, bool with_ok) {
  std::string out = with_ok ? "{\"ok\":true," : "{";
  out += "\"exitCode\":" + std::to_string(e.exit_code) + ",\"signal\":" + (e.signal.empty() ? "null" : json_str(e.signal)) +
         ",\"oomKilled\":" + (e.oom_killed ? "true" : "false") + ",\"finishedAt\":" + json_str(e.finished_at) + "}";
  return out;
}

void write_state(const std::string& dir, const State& s) { write_file_atomic(dir + "/state.json", state_json(s) + "\n"); }
void write_exit(const std::string& dir, const ExitStatus& e) { write_file_atomic(dir + "/exit.json", exit_json(e, false) + "\n"); }

}  // namespace shoal
