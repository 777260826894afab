#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

namespace shoal {

std::string errno_text(int err) {
  std::string s = strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(tolower(static_cast<unsigned char>(s[0])));
  return s;
}

void fail_errno(const std::string& what, int err) { throw Fail(what + ": " + errno_text(err)); }
void fail_errno(const std::string& what) { fail_errno(what, errno); }

bool read_file(const std::string& path, std::string& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

std::string read_file_or(const std::string& path, const std::string& dflt) {
  std::string s;
  return read_file(path, s) ? s : dflt;
}

bool try_write_file(const std::string& path, const std::string& data, int* err) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (err) *err = errno;
    return false;
  }
  bool ok = write_all(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  if (!ok && err) *err = e;
  return ok;
}

void write_file(const std::string& path, const std::string& data) {
  int err = 0;
  if (!try_write_file(path, data, &err)) fail_errno("write " + path, err);
}

void write_file_atomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  write_file(tmp, data);
  if (rename(tmp.c_str(), path.c_str()) < 0) fail_errno("rename " + tmp);
}

void mkdir_p(const std::string& path, unsigned mode) {
  if (path.empty()) return;
  if (mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return;
  if (errno != ENOENT) fail_errno("mkdir " + path);
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) fail_errno("mkdir " + path);
  mkdir_p(path.substr(0, slash), mode);
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) fail_errno("mkdir " + path);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d)) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        remove_tree(path + "/" + e->d_name);
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

bool path_exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    if (p == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && isspace(static_cast<unsigned char>(s[a]))) a++;
  while (b > a && isspace(static_cast<unsigned char>(s[b - 1]))) b--;
  return s.substr(a, b - a);
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string rfc3339_nano(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000LL);
  long nanos = static_cast<long>(unix_ns % 1000000000LL);
  tm t;
  gmtime_r(&secs, &t);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
           t.tm_hour, t.tm_min, t.tm_sec, nanos);
  return buf;
}

bool write_all(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
static size_t utf8_len(const unsigned char* s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

void json_escape_into(std::string& out, const char* s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
      i++;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; i++; continue;
      case '\\': out += "\\\\"; i++; continue;
      case '\n': out += "\\n"; i++; continue;
      case '\r': out += "\\r"; i++; continue;
      case '\t': out += "\\t"; i++; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
      i++;
      continue;
    }
    size_t l = utf8_len(p + i, n - i);
    if (l == 0) {
      out += "\\ufffd";
      i++;
    } else {
      out.append(s + i, l);
      i += l;
    }
  }
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  json_escape_into(out, s.data(), s.size());
  out += "\"";
  return out;
}

static const struct {
  const char* name;
  int num;
} kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},   {"IOT", SIGIOT},       {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL},   {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int signal_number(const std::string& raw) {
  if (raw.empty()) return -1;
  if (isdigit(static_cast<unsigned char>(raw[0]))) {
    char* end = nullptr;
    long v = strtol(raw.c_str(), &end, 10);
    if (*end || v <= 0 || v > 64) return -1;
    return static_cast<int>(v);
  }
  std::string n;
  for (char c : raw) n.push_back(static_cast<char>(toupper(static_cast<unsigned char>(c))));
  if (starts_with(n, "SIG")) n = n.substr(3);
  for (auto& s : kSignals)
    if (n == s.name) return s.num;
  if (starts_with(n, "RTMIN")) {
    int off = n.size() > 6 ? atoi(n.c_str() + 6) : 0;
    return SIGRTMIN + off;
  }
  return -1;
}

std::string signal_name(int sig) {
  for (auto& s : kSignals)
    if (s.num == sig) return std::string("SIG") + s.name;
  return "SIG" + std::to_string(sig);
}

}  // namespace shoal

namespace shoal {
int trace_fd = -1;
void trace(const char* what) {
  static const char* path = getenv("SHOAL_TRACE");
  if (!path) return;
  int fd = trace_fd >= 0 ? dup(trace_fd) : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char buf[160];
  int n = snprintf(buf, sizeof buf, "%lld %d %s\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, getpid(), what);
  write(fd, buf, static_cast<size_t>(n));
  close(fd);
}
}  // namespace shoal
