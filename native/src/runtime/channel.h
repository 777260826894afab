// Messages between the monitor and a child it is setting up, over a SOCK_SEQPACKET pair:
// one letter plus text, optionally carrying one fd (SCM_RIGHTS). EOF means the child exec'd.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace shoal {

bool chan_send(int sock, char kind, const std::string& text = "", int fd = -1);
// Returns false on EOF/error; sets kind (0 on EOF), text, and fd (-1 if none).
bool chan_recv(int sock, char& kind, std::string& text, int* fd = nullptr);

// Connects to the unix socket at `path` and sends `fd` over it (SCM_RIGHTS) with `name` as the
// payload: how an OCI runtime hands a pty master to the caller's --console-socket. Throws Fail.
void send_fd_to_socket(const std::string& path, int fd, const std::string& name);
// Sends `data` with `fds` attached (SCM_RIGHTS) on a connected stream socket. Throws Fail.
void send_with_fds(int sock, const std::string& data, const int* fds, int count);

// Child side helpers: report an error and exit.
[[noreturn]] void chan_fail(int sock, const std::string& msg, int code = 1);

// Opens a pty inside the current mount namespace (/dev/ptmx), returns master and slave path.
int open_pty(std::string& slave_path, int& slave_fd);
void set_winsize(int fd, unsigned short rows, unsigned short cols);
// Makes `slave_fd` the controlling terminal and stdio of the calling process.
void become_tty(int slave_fd);

}  // namespace shoal
