// Small helpers shared by every part of shoal-runtime: the one error type, file I/O, time.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>

namespace shoal {

// Every setup failure is one of these; its message is the single stderr line the user sees
// (after "shoal-runtime: ").
struct Fail : std::runtime_error {
  explicit Fail(const std::string& m) : std::runtime_error(m) {}
};

// "what: strerror(errno)"
[[noreturn]] void fail_errno(const std::string& what, int err);
[[noreturn]] void fail_errno(const std::string& what);
std::string errno_text(int err);  // lower-case strerror, as Go prints it

bool read_file(const std::string& path, std::string& out);
std::string read_file_or(const std::string& path, const std::string& dflt);
void write_file(const std::string& path, const std::string& data);  // throws Fail
bool try_write_file(const std::string& path, const std::string& data, int* err = nullptr);
void write_file_atomic(const std::string& path, const std::string& data);  // tmp + rename
void mkdir_p(const std::string& path, unsigned mode = 0755);
void remove_tree(const std::string& path);
bool path_exists(const std::string& path);
bool is_dir(const std::string& path);

std::vector<std::string> split(const std::string& s, char sep);
std::string trim(const std::string& s);
bool starts_with(const std::string& s, const std::string& p);

std::string rfc3339_nano(int64_t unix_ns);
int64_t now_ns();

// writes everything, retrying on EINTR / short writes (blocking fds)
bool write_all(int fd, const void* buf, size_t len);

// JSON string escaping for hand-written JSON (logs, replies): valid UTF-8 kept, invalid bytes → U+FFFD
void json_escape_into(std::string& out, const char* s, size_t n);
std::string json_str(const std::string& s);

int signal_number(const std::string& name);  // "TERM", "SIGTERM", "15"; -1 if unknown
std::string signal_name(int sig);            // "SIGTERM"

}  // namespace shoal

namespace shoal {
// Appends "<monotonic µs> <pid> <what>" to $SHOAL_TRACE when set (performance work only).
void trace(const char* what);
extern int trace_fd;  // kept open across pivot_root by the container's init
}  // namespace shoal
