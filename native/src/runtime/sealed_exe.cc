#include "sealed_exe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

namespace shoal {

const char kRuntimePathEnv[] = "_SHOAL_RUNTIME_PATH";

namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

int new_memfd(const char* name) {
  // MFD_EXEC: where vm.memfd_noexec defaults memfds to non-executable (Linux 6.3+) we need it
  // said; older kernels reject the unknown flag.
  int fd = static_cast<int>(syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
  if (fd < 0 && errno == EINVAL) fd = static_cast<int>(syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  return fd;
}

}  // namespace

int sealed_copy(int src_fd, const char* name) {
  struct stat st;
  if (fstat(src_fd, &st) < 0) return -1;
  int fd = new_memfd(name);
  if (fd < 0) return -1;
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(fd, src_fd, &off, static_cast<size_t>(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;  // 0: the file shrank under us
      close(fd);
      errno = e;
      return -1;
    }
  }
  // F_SEAL_EXEC (6.3+) also freezes the mode bits; older kernels reject it.
  if (fcntl(fd, F_ADD_SEALS, kSeals | F_SEAL_EXEC) < 0 && (errno != EINVAL || fcntl(fd, F_ADD_SEALS, kSeals) < 0)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int sealed_copy_of(const std::string& path, const char* name) {
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  int fd = sealed_copy(src, name);
  int e = errno;
  close(src);
  errno = e;
  return fd;
}

bool is_sealed(int fd) {
  int seals = fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & kSeals) == kSeals;
}

bool running_sealed() {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool sealed = is_sealed(fd);
  close(fd);
  return sealed;
}

int exec_fd(int fd, char* const argv[], char* const envp[]) {
  return static_cast<int>(syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH));
}

}  // namespace shoal
