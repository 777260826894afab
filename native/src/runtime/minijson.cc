#include "minijson.h"

#include <cstdlib>

namespace shoal {

namespace {

void ws(const std::string& s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
}

bool skip_string(const std::string& s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return false;
  for (i++; i < s.size(); i++) {
    if (s[i] == '\\') {
      i++;
      continue;
    }
    if (s[i] == '"') {
      i++;
      return true;
    }
  }
  return false;
}

bool skip_value(const std::string& s, size_t& i) {
  ws(s, i);
  if (i >= s.size()) return false;
  char c = s[i];
  if (c == '"') return skip_string(s, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < s.size()) {
      char d = s[i];
      if (d == '"') {
        if (!skip_string(s, i)) return false;
        continue;
      }
      if (d == '{' || d == '[') depth++;
      if (d == '}' || d == ']') {
        depth--;
        if (depth == 0) {
          i++;
          return true;
        }
      }
      i++;
    }
    return false;
  }
  size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') i++;
  return i > start;
}

void put_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) out.push_back(static_cast<char>(cp));
  else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string json_unquote(const std::string& raw) {
  std::string out;
  if (raw.size() < 2 || raw[0] != '"') return out;
  for (size_t i = 1; i + 1 < raw.size(); i++) {
    char c = raw[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    char e = raw[++i];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'u':
        if (i + 4 < raw.size()) {
          put_utf8(out, static_cast<unsigned>(strtoul(raw.substr(i + 1, 4).c_str(), nullptr, 16)));
          i += 4;
        }
        break;
      default: out.push_back(e);
    }
  }
  return out;
}

JsonObject parse_json_object(const std::string& s) {
  JsonObject o;
  size_t i = 0;
  ws(s, i);
  if (i >= s.size() || s[i] != '{') return o;
  i++;
  ws(s, i);
  if (i < s.size() && s[i] == '}') {
    o.ok = true;
    return o;
  }
  while (i < s.size()) {
    ws(s, i);
    size_t ks = i;
    if (!skip_string(s, i)) return o;
    std::string key = json_unquote(s.substr(ks, i - ks));
    ws(s, i);
    if (i >= s.size() || s[i] != ':') return o;
    i++;
    ws(s, i);
    size_t vs = i;
    if (!skip_value(s, i)) return o;
    o.raw[key] = s.substr(vs, i - vs);
    ws(s, i);
    if (i < s.size() && s[i] == ',') {
      i++;
      continue;
    }
    if (i < s.size() && s[i] == '}') {
      o.ok = true;
      return o;
    }
    return o;
  }
  return o;
}

bool JsonObject::is_string(const std::string& k) const {
  auto it = raw.find(k);
  return it != raw.end() && !it->second.empty() && it->second[0] == '"';
}

bool JsonObject::is_number(const std::string& k) const {
  auto it = raw.find(k);
  return it != raw.end() && !it->second.empty() && (isdigit(static_cast<unsigned char>(it->second[0])) || it->second[0] == '-');
}

std::string JsonObject::str(const std::string& k, const std::string& dflt) const {
  return is_string(k) ? json_unquote(raw.at(k)) : dflt;
}

bool JsonObject::boolean(const std::string& k, bool dflt) const {
  auto it = raw.find(k);
  if (it == raw.end()) return dflt;
  return it->second == "true";
}

long long JsonObject::integer(const std::string& k, long long dflt) const {
  return is_number(k) ? strtoll(raw.at(k).c_str(), nullptr, 10) : dflt;
}

}  // namespace shoal
