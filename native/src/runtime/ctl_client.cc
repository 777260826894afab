#include "ctl_client.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "util.h"

namespace shoal {

int ctl_connect(const std::string& dir) {
  std::string path = dir + "/ctl.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  int dirfd = -1;
  if (path.size() >= sizeof addr.sun_path) {  // deep --root: go through a directory fd
    dirfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    path = "/proc/self/fd/" + std::to_string(dirfd) + "/ctl.sock";
  }
  strcpy(addr.sun_path, path.c_str());
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int e = errno;
  if (dirfd >= 0) close(dirfd);
  if (rc < 0) {
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

std::string ctl_roundtrip(int fd, const std::string& request, std::string* rest) {
  std::string line = request + "\n";
  if (!write_all(fd, line.data(), line.size())) fail_errno("write to monitor");
  std::string buf;
  char tmp[4096];
  for (;;) {
    auto nl = buf.find('\n');
    if (nl != std::string::npos) {
      if (rest) *rest = buf.substr(nl + 1);
      return buf.substr(0, nl);
    }
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Fail("monitor closed the connection");
    buf.append(tmp, static_cast<size_t>(n));
  }
}

std::string ctl_call(const std::string& dir, const std::string& request) {
  int fd = ctl_connect(dir);
  if (fd < 0) throw Fail("container is not running (no monitor)");
  try {
    std::string r = ctl_roundtrip(fd, request);
    close(fd);
    return r;
  } catch (...) {
    close(fd);
    throw;
  }
}

std::string reply_error(const std::string& reply) {
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "bad reply from monitor";
  if (j.value("ok", false)) return "";
  return j.value("error", "unknown error");
}

}  // namespace shoal
