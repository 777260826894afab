// A tiny reader for the flat JSON objects of ctl.sock requests, so that the long-lived monitor
// does not carry a full JSON library: top-level keys map to their raw JSON value text.
#pragma once
#include <map>
#include <string>

namespace shoal {

struct JsonObject {
  bool ok = false;
  std::map<std::string, std::string> raw;  // key → raw JSON text of the value

  bool has(const std::string& k) const { return raw.count(k) > 0; }
  std::string str(const std::string& k, const std::string& dflt = "") const;  // a JSON string value
  bool boolean(const std::string& k, bool dflt = false) const;
  long long integer(const std::string& k, long long dflt = 0) const;
  bool is_string(const std::string& k) const;
  bool is_number(const std::string& k) const;
};

JsonObject parse_json_object(const std::string& text);
std::string json_unquote(const std::string& raw);  // "..." → its text

}  // namespace shoal
