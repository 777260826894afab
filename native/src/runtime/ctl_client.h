// Client side of ctl.sock, used by the CLI verbs.
#pragma once
#include <string>

namespace shoal {

// Connects to <dir>/ctl.sock; -1 with errno set when the monitor is gone.
int ctl_connect(const std::string& dir);
// Sends one request line and reads one reply line. `rest` receives bytes read past the newline
// (the start of a stream). Throws Fail on I/O errors.
std::string ctl_roundtrip(int fd, const std::string& request, std::string* rest = nullptr);
// Connect + roundtrip + close. Throws Fail("container ... is not running") if the socket is gone.
std::string ctl_call(const std::string& dir, const std::string& request);
// Extracts "error" from a failed reply, or "" if the reply is ok.
std::string reply_error(const std::string& reply);

}  // namespace shoal
