#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

namespace shoal {

bool chan_send(int sock, char kind, const std::string& text, int fd) {
  std::string buf(1, kind);
  buf += text;
  iovec iov{const_cast<char*>(buf.data()), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return true;
    if (errno != EINTR) return false;
  }
}

bool chan_recv(int sock, char& kind, std::string& text, int* fd) {
  char buf[65536];  // a state JSON with annotations may ride along
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  if (fd) *fd = -1;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    kind = 0;
    return false;
  }
  kind = buf[0];
  text.assign(buf + 1, static_cast<size_t>(n - 1));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      memcpy(&got, CMSG_DATA(c), sizeof(int));
      if (fd) *fd = got;
      else close(got);
    }
  }
  return true;
}

void send_with_fds(int sock, const std::string& data, const int* fds, int count) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 3)];
  if (count > 3) throw Fail("send_with_fds: at most 3 fds");
  if (count > 0) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(count));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(count));
    memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<size_t>(count));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail_errno("send over unix socket");
  // the fds travel with the first bytes; the rest of a short write goes plainly
  if (static_cast<size_t>(n) < data.size() && !write_all(sock, data.data() + n, data.size() - static_cast<size_t>(n)))
    fail_errno("send over unix socket");
}

void send_fd_to_socket(const std::string& path, int fd, const std::string& name) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail_errno("console socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(s);
    throw Fail("console socket " + path + ": path too long");
  }
  strcpy(addr.sun_path, path.c_str());
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int e = errno;
    close(s);
    fail_errno("connect to console socket " + path, e);
  }
  try {
    send_with_fds(s, name, &fd, 1);
  } catch (...) {
    close(s);
    throw;
  }
  close(s);
}

void chan_fail(int sock, const std::string& msg, int code) {
  chan_send(sock, 'E', msg);
  _exit(code);
}

int open_pty(std::string& slave_path, int& slave_fd) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail_errno("open /dev/ptmx");
  if (unlockpt(master) < 0) fail_errno("unlockpt");
  char name[128];
  if (ptsname_r(master, name, sizeof name) != 0) fail_errno("ptsname");
  slave_path = name;
  slave_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave_fd < 0) fail_errno("open " + slave_path);
  return master;
}

void set_winsize(int fd, unsigned short rows, unsigned short cols) {
  if (!rows && !cols) return;
  winsize ws{rows, cols, 0, 0};
  ioctl(fd, TIOCSWINSZ, &ws);
}

void become_tty(int slave_fd) {
  setsid();
  if (ioctl(slave_fd, TIOCSCTTY, 0) < 0) fail_errno("set controlling terminal");
  for (int i = 0; i < 3; i++)
    if (dup2(slave_fd, i) < 0) fail_errno("dup2 tty");
  if (slave_fd > 2) close(slave_fd);
}

}  // namespace shoal
