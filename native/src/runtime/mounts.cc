#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroups.h"
#include "util.h"

namespace shoal {

namespace {

int openat2_in_root(int rootfd, const std::string& rel, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, rootfd, rel.c_str(), &how, sizeof how));
}

// Creates `dest` (absolute, inside the rootfs) resolving every symlink inside the rootfs, so an
// image cannot point a mount outside of it. Returns an O_PATH fd of the target.
int make_target(int rootfd, const std::string& dest, bool dir) {
  std::string rel;
  auto parts = split(dest, '/');
  std::vector<std::string> comps;
  for (auto& p : parts)
    if (!p.empty() && p != ".") comps.push_back(p);
  if (comps.empty()) return openat2_in_root(rootfd, ".", O_PATH);
  for (size_t i = 0; i < comps.size(); i++) {
    std::string parent = rel.empty() ? "." : rel;
    rel += (rel.empty() ? "" : "/") + comps[i];
    int fd = openat2_in_root(rootfd, rel, O_PATH);
    if (fd >= 0) {
      if (i + 1 == comps.size()) return fd;
      close(fd);
      continue;
    }
    if (errno != ENOENT) fail_errno("mount point " + dest);
    int pfd = openat2_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) fail_errno("mount point " + dest);
    bool last = i + 1 == comps.size();
    if (!last || dir) {
      if (mkdirat(pfd, comps[i].c_str(), 0755) < 0 && errno != EEXIST) {
        int e = errno;
        close(pfd);
        fail_errno("create mount point " + dest, e);
      }
    } else {
      int f = openat(pfd, comps[i].c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (f < 0) {
        int e = errno;
        close(pfd);
        fail_errno("create mount point " + dest, e);
      }
      close(f);
    }
    close(pfd);
  }
  int fd = openat2_in_root(rootfd, rel, O_PATH);
  if (fd < 0) fail_errno("mount point " + dest);
  return fd;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

unsigned long locked_flags(const std::string& path) {
  struct statvfs sv;
  unsigned long out = 0;
  if (statvfs(path.c_str(), &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) out |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) out |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) out |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) out |= MS_RELATIME;
  }
  return out;
}

void remount_bind(const std::string& path, unsigned long flags) {
  if (mount(nullptr, path.c_str(), nullptr, MS_REMOUNT | MS_BIND | flags | locked_flags(path), nullptr) < 0)
    fail_errno("remount " + path);
}

// /sys/fs/cgroup inside the container: the hierarchies mounted again (rooted at the container's
// cgroup when it has a cgroup namespace), read-only when asked.
void mount_cgroups(int rootfd, const Mount& m, int target_fd) {
  std::string target = fd_path(target_fd);
  unsigned long base = m.flags & ~MS_RDONLY;
  if (cgroup_mode() == CgroupMode::V2) {
    if (mount("cgroup2", target.c_str(), "cgroup2", m.flags, nullptr) < 0) fail_errno("mount cgroup2 on " + m.destination);
    return;
  }
  if (mount("tmpfs", target.c_str(), "tmpfs", base, "mode=755") < 0) fail_errno("mount tmpfs on " + m.destination);
  auto mounts = cgroup_v1_mounts();
  std::map<std::string, std::string> by_dir;  // mount point → its option list
  for (auto& [ctrl, mp] : mounts) {
    auto& v = by_dir[mp];
    v += (v.empty() ? "" : ",") + ctrl;
  }
  for (auto& [mp, opts] : by_dir) {
    std::string name = mp.substr(mp.find_last_of('/') + 1);
    int fd = make_target(rootfd, m.destination + "/" + name, true);
    // named hierarchies (name=systemd) show their name as the source, as with runc
    std::string src = starts_with(opts, "name=") ? opts.substr(5) : "cgroup";
    if (mount(src.c_str(), fd_path(fd).c_str(), "cgroup", m.flags, opts.c_str()) < 0) {
      int e = errno;
      close(fd);
      fail_errno("mount cgroup " + opts + " on " + m.destination + "/" + name, e);
    }
    close(fd);
  }
  // Like runc: the hybrid's empty cgroup2 is not shown, and the tmpfs holding the hierarchies
  // stays writable (each hierarchy itself is read-only).
}

void do_mount(int rootfd, const Spec& spec, const Mount& m) {
  if (m.bind) {
    struct stat st;
    if (stat(m.source.c_str(), &st) < 0) fail_errno("bind mount source " + m.source);
    int fd = make_target(rootfd, m.destination, S_ISDIR(st.st_mode));
    std::string t = fd_path(fd);
    unsigned long fl = MS_BIND | (m.recursive ? MS_REC : 0);
    if (mount(m.source.c_str(), t.c_str(), nullptr, fl, nullptr) < 0) {
      int e = errno;
      close(fd);
      fail_errno("bind mount " + m.source + " on " + m.destination, e);
    }
    close(fd);
    // Re-open: the fd points at the covered directory, the new mount sits on top of it.
    fd = make_target(rootfd, m.destination, S_ISDIR(st.st_mode));
    t = fd_path(fd);
    unsigned long extra = m.flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
    if (extra && mount(nullptr, t.c_str(), nullptr, MS_REMOUNT | MS_BIND | extra | locked_flags(t), nullptr) < 0) {
      int e = errno;
      close(fd);
      fail_errno("remount " + m.destination, e);
    }
    if (m.propagation && mount(nullptr, t.c_str(), nullptr, m.propagation, nullptr) < 0) {
      int e = errno;
      close(fd);
      fail_errno("set propagation of " + m.destination, e);
    }
    close(fd);
    return;
  }
  int fd = make_target(rootfd, m.destination, true);
  if (m.type == "cgroup" || m.type == "cgroup2") {
    mount_cgroups(rootfd, m, fd);
    close(fd);
    return;
  }
  std::string t = fd_path(fd);
  const char* src = m.source.empty() ? m.type.c_str() : m.source.c_str();
  if (mount(src, t.c_str(), m.type.c_str(), m.flags, m.data.empty() ? nullptr : m.data.c_str()) < 0) {
    int e = errno;
    close(fd);
    if (e == EINVAL || e == ENODEV) throw Fail("mount " + m.type + " on " + m.destination + ": " + errno_text(e) + " (options \"" + m.data + "\")");
    fail_errno("mount " + m.type + " on " + m.destination, e);
  }
  if (m.propagation) mount(nullptr, t.c_str(), nullptr, m.propagation, nullptr);
  close(fd);
  (void)spec;
}

// The default nodes go straight into the fresh /dev tmpfs (no path walk: we made that dir).
void make_default_device(int devfd, bool userns, const Device& d) {
  const char* name = d.path.c_str() + 5;  // after "/dev/"
  if (!userns) {
    if (mknodat(devfd, name, S_IFCHR | 0666, makedev(d.major, d.minor)) == 0) return;
    // As runc: where mknod is not permitted (device cgroup, no CAP_MKNOD), bind the host's node.
    if (errno != EPERM) fail_errno("mknod " + d.path);
  }
  int f = openat(devfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (f < 0) fail_errno("create " + d.path);
  close(f);
  std::string t = "/proc/self/fd/" + std::to_string(devfd) + "/" + name;
  if (mount(d.path.c_str(), t.c_str(), nullptr, MS_BIND, nullptr) < 0) fail_errno("bind device " + d.path);
}

void make_device(int rootfd, const Spec& spec, const Device& d) {
  int fd = make_target(rootfd, d.path, false);
  std::string t = fd_path(fd);
  bool userns = spec.has_ns(CLONE_NEWUSER);
  mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
  if (!userns) {
    // Replace the placeholder file with the node.
    std::string host = spec.root + d.path;
    close(fd);
    unlink(host.c_str());
    if (mknod(host.c_str(), type | (d.mode & 07777), makedev(d.major, d.minor)) == 0) {
      chmod(host.c_str(), d.mode & 07777);
      if (chown(host.c_str(), d.uid, d.gid) < 0) fail_errno("chown " + d.path);
      return;
    }
    if (errno != EPERM || type == S_IFIFO) fail_errno("mknod " + d.path);
    // mknod not permitted (as runc, fall back): bind the host's node onto an empty file.
    fd = make_target(rootfd, d.path, false);
    t = fd_path(fd);
  }
  // In a user namespace mknod is not allowed: bind the host's node instead.
  if (mount(d.path.c_str(), t.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    int e = errno;
    close(fd);
    fail_errno("bind device " + d.path, e);
  }
  close(fd);
}

}  // namespace

// The mount holding `path` (the longest mount point that is a prefix of it, per mountinfo).
static std::string mount_point_of(const std::string& path) {
  std::string best = "/";
  for (auto& line : split(read_file_or("/proc/self/mountinfo", ""), '\n')) {
    auto f = split(line, ' ');
    if (f.size() < 5) continue;
    const std::string& mp = f[4];
    bool prefix = mp == "/" || path == mp || starts_with(path, mp + "/");
    if (prefix && mp.size() >= best.size()) best = mp;
  }
  return best;
}

void prepare_rootfs(const Spec& spec) {
  // rootfsPropagation (default rslave, as runc) is applied to the whole tree we copied from the
  // host: slave/private keep our mounts from reaching the host; shared keeps peers with it.
  unsigned long prop = spec.rootfs_propagation ? spec.rootfs_propagation : (MS_SLAVE | MS_REC);
  if (mount(nullptr, "/", nullptr, prop, nullptr) < 0) fail_errno("set the propagation of / (rootfsPropagation)");
  // pivot_root refuses a new root or parent that is shared, and the rootfs mounts must not
  // reach the host's peers: the mount the rootfs sits in becomes private (in our namespace).
  std::string parent = mount_point_of(spec.root);
  if (mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE, nullptr) < 0) fail_errno("make " + parent + " private");
  if (!spec.lowerdirs.empty()) {
    std::string opts = "lowerdir=";
    for (size_t i = 0; i < spec.lowerdirs.size(); i++) opts += (i ? ":" : "") + spec.lowerdirs[i];
    if (!spec.upperdir.empty()) opts += ",upperdir=" + spec.upperdir + ",workdir=" + spec.workdir;
    if (mount("overlay", spec.root.c_str(), "overlay", 0, opts.c_str()) < 0) fail_errno("mount overlay rootfs on " + spec.root);
  } else if (mount(spec.root.c_str(), spec.root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
    fail_errno("bind rootfs " + spec.root);
  }

  int rootfd = open(spec.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail_errno("open rootfs " + spec.root);
  bool dev_mounted = false;
  try {
    trace("rootfs bound");
    for (auto& m : spec.mounts) {
      do_mount(rootfd, spec, m);
      trace(m.destination.c_str());
      if (m.destination == "/dev") dev_mounted = true;
    }
    static const Device kDefault[] = {
        {'c', "/dev/null", 1, 3, 0666, 0, 0},    {'c', "/dev/zero", 1, 5, 0666, 0, 0},
        {'c', "/dev/full", 1, 7, 0666, 0, 0},    {'c', "/dev/random", 1, 8, 0666, 0, 0},
        {'c', "/dev/urandom", 1, 9, 0666, 0, 0}, {'c', "/dev/tty", 5, 0, 0666, 0, 0},
    };
    if (dev_mounted) {
      int devfd = openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
      if (devfd < 0) fail_errno("open /dev in the rootfs");
      mode_t old = umask(0);
      try {
        for (auto& d : kDefault) {
          bool overridden = false;
          for (auto& sd : spec.devices)
            if (sd.path == d.path) overridden = true;
          if (!overridden) make_default_device(devfd, spec.has_ns(CLONE_NEWUSER), d);
        }
        static const char* kLinks[][2] = {{"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
                                          {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                          {"pts/ptmx", "ptmx"}};
        for (auto& l : kLinks)
          if (symlinkat(l[0], devfd, l[1]) < 0 && errno != EEXIST) fail_errno("symlink /dev/" + std::string(l[1]));
      } catch (...) {
        umask(old);
        close(devfd);
        throw;
      }
      umask(old);
      close(devfd);
    }
    trace("devices+links");
    for (auto& d : spec.devices) make_device(rootfd, spec, d);
  } catch (...) {
    close(rootfd);
    throw;
  }
  close(rootfd);
}

void pivot_into(const std::string& root) {
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) fail_errno("open /");
  if (chdir(root.c_str()) < 0) fail_errno("chdir " + root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail_errno("pivot_root " + root);
  // The old root now sits on top of the new one; detach it without telling the host.
  if (fchdir(oldroot) < 0) fail_errno("fchdir old root");
  close(oldroot);
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) fail_errno("make old root a slave");
  if (umount2(".", MNT_DETACH) < 0) fail_errno("detach old root");
  if (chdir("/") < 0) fail_errno("chdir /");
}

void bind_console(const std::string& slave) {
  int fd = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) close(fd);
  if (mount(slave.c_str(), "/dev/console", nullptr, MS_BIND, nullptr) < 0) fail_errno("bind console");
}

void finish_rootfs(const Spec& spec) {
  for (auto& p : spec.masked_paths) {
    struct stat st;
    if (stat(p.c_str(), &st) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, "size=0") < 0) fail_errno("mask " + p);
    } else if (mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr) < 0) {
      fail_errno("mask " + p);
    }
  }
  for (auto& p : spec.readonly_paths) {
    if (!path_exists(p)) continue;
    if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) fail_errno("bind " + p);
    remount_bind(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
}

void set_root_propagation(unsigned long prop) {
  if (mount(nullptr, "/", nullptr, prop, nullptr) < 0) fail_errno("set the propagation of the container's root");
}

void readonly_root() { remount_bind("/", MS_RDONLY); }

}  // namespace shoal
