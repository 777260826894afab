// File operations Node's fs lacks (mknod, lsetxattr, lgetxattr, lchown of device nodes), and small
// writes batched into one round trip, applied in order on a libuv worker thread. Pure syscalls: no
// napi here, see fileops_napi.cc.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>

#include "../../include/shoal_native.h"

namespace shoal_native {

namespace {

// The whole buffer, or -1 with errno (a short write is retried; EINTR too).
int write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += static_cast<size_t>(n);
  }
  return 0;
}

// One op; returns the failing syscall's name (errno set) or nullptr.
const char* apply_one(const FileOp& op) {
  switch (op.kind) {
    case FileOp::Mknod:
      if (mknod(op.path.c_str(), op.mode, makedev(op.major, op.minor)) < 0) return "mknod";
      return nullptr;
    case FileOp::Lchown:
      if (lchown(op.path.c_str(), op.uid, op.gid) < 0) return "lchown";
      return nullptr;
    case FileOp::Chmod:
      if (chmod(op.path.c_str(), op.mode) < 0) return "chmod";
      return nullptr;
    case FileOp::Lutimes: {
      struct timespec ts[2] = {op.atime, op.mtime};
      if (utimensat(AT_FDCWD, op.path.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) return "lutimes";
      return nullptr;
    }
    case FileOp::Lsetxattr:
      if (lsetxattr(op.path.c_str(), op.name.c_str(), op.value.data(), op.value.size(), 0) < 0)
        return "lsetxattr";
      return nullptr;
    case FileOp::MountTmpfs: {
      char data[64];
      snprintf(data, sizeof data, "size=%llu,mode=%o", static_cast<unsigned long long>(op.size), op.mode);
      if (mount("tmpfs", op.path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) < 0) return "mount";
      return nullptr;
    }
    case FileOp::Umount:
      if (umount2(op.path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return "umount2";
      return nullptr;
    case FileOp::Mkdir: {
      if (mkdir(op.path.c_str(), op.mode) == 0) return nullptr;
      int e = errno;
      struct stat st;
      // An existing directory is fine (what a retry after a crash finds); anything else is not.
      if (e == EEXIST && lstat(op.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return nullptr;
      errno = e;
      return "mkdir";
    }
    case FileOp::WriteFile: {
      int fd = open(op.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, op.mode);
      if (fd < 0) return "open";
      if (write_all(fd, op.value) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return "write";
      }
      if (close(fd) < 0) return "close";
      return nullptr;
    }
    case FileOp::Rename:
      if (rename(op.path.c_str(), op.target.c_str()) < 0) return "rename";
      return nullptr;
    case FileOp::SpreadSubdirs: {
      int fd = open(op.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return "open";
      int flags = 0;  // the kernel reads and writes an int, whatever the ioctl's declared type says
      const char* failed = nullptr;
      if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) failed = "ioctl";
      if (!failed && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) failed = "ioctl";
      }
      int e = errno;
      close(fd);
      errno = e;
      return failed;
    }
  }
  errno = EINVAL;
  return "unknown";
}

}  // namespace

FileOpFailure apply_file_ops(const std::vector<FileOp>& ops) {
  FileOpFailure f;
  for (size_t i = 0; i < ops.size(); i++) {
    const char* sys = apply_one(ops[i]);
    if (sys) {
      f.err = errno;
      f.index = i;
      f.syscall = sys;
      return f;
    }
  }
  return f;
}

int get_xattr(const std::string& path, const std::string& name, std::string& value) {
  for (;;) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) return errno;
    value.resize(static_cast<size_t>(n));
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (m >= 0) {
      value.resize(static_cast<size_t>(m));
      return 0;
    }
    if (errno != ERANGE) return errno;  // ERANGE: it grew between the two calls; ask again
  }
}

}  // namespace shoal_native
