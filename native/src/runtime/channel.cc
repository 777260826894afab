#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
  char buf[4096];
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
