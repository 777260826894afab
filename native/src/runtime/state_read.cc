// state.json / exit.json readers for the CLI verbs (the monitor only writes them).
#include <nlohmann/json.hpp>

#include "state.h"
#include "util.h"

namespace shoal {

std::optional<State> read_state(const std::string& dir) {
  std::string text;
  if (!read_file(dir + "/state.json", text)) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  State s;
  s.id = j.value("id", "");
  s.status = j.value("status", "");
  s.bundle = j.value("bundle", "");
  s.created = j.value("created", "");
  s.started = j.value("started", "");
  s.pid = j.value("pid", 0);
  s.monitor_pid = j.value("monitorPid", 0);
  if (j.contains("annotations") && j["annotations"].is_object())
    for (auto& [k, v] : j["annotations"].items())
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
  if (j.contains("cgroupPaths") && j["cgroupPaths"].is_object())
    for (auto& [k, v] : j["cgroupPaths"].items())
      if (v.is_string()) s.cgroup_paths[k] = v.get<std::string>();
  return s;
}

std::optional<ExitStatus> read_exit(const std::string& dir) {
  std::string text;
  if (!read_file(dir + "/exit.json", text)) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  ExitStatus e;
  e.exit_code = j.value("exitCode", 0);
  if (j.contains("signal") && j["signal"].is_string()) e.signal = j["signal"].get<std::string>();
  e.oom_killed = j.value("oomKilled", false);
  e.finished_at = j.value("finishedAt", "");
  return e;
}

}  // namespace shoal
