#include "logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

namespace shoal {

// Docker splits long lines into 16 KiB entries.
static const size_t kMaxLine = 16 * 1024;

void JsonFileLog::open(const std::string& path, uint64_t max_size, unsigned max_files) {
  path_ = path;
  max_size_ = max_size;
  max_files_ = max_files ? max_files : 1;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) fail_errno("open log file " + path);
  struct stat st;
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void JsonFileLog::adopt(int fd, const std::string& path, uint64_t max_size, unsigned max_files) {
  path_ = path;
  max_size_ = max_size;
  max_files_ = max_files ? max_files : 1;
  fd_ = fd;
  fcntl(fd_, F_SETFD, FD_CLOEXEC);
  struct stat st;
  size_ = fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void JsonFileLog::rotate() {
  if (max_files_ <= 1) {
    if (ftruncate(fd_, 0) == 0) size_ = 0;
    return;
  }
  for (unsigned i = max_files_ - 1; i >= 1; i--) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    rename(from.c_str(), to.c_str());
  }
  ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  size_ = 0;
}

void JsonFileLog::entry(int stream, const char* data, size_t n) {
  std::string line = "{\"log\":\"";
  json_escape_into(line, data, n);
  line += stream == 2 ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"";
  line += rfc3339_nano(now_ns());
  line += "\"}\n";
  if (max_size_ && size_ > 0 && size_ + line.size() > max_size_) rotate();
  if (fd_ < 0) return;
  if (write_all(fd_, line.data(), line.size())) size_ += line.size();
}

void JsonFileLog::write(int stream, const char* data, size_t n) {
  if (fd_ < 0) return;
  std::string& part = partial_[stream == 2 ? 2 : 1];
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (data[i] != '\n') continue;
    if (part.empty()) {
      entry(stream, data + start, i + 1 - start);
    } else {
      part.append(data + start, i + 1 - start);
      entry(stream, part.data(), part.size());
      part.clear();
    }
    start = i + 1;
  }
  if (start < n) part.append(data + start, n - start);
  while (part.size() >= kMaxLine) {
    entry(stream, part.data(), kMaxLine);
    part.erase(0, kMaxLine);
  }
}

void JsonFileLog::flush() {
  for (int s = 1; s <= 2; s++) {
    if (!partial_[s].empty()) entry(s, partial_[s].data(), partial_[s].size());
    partial_[s].clear();
  }
}

void JsonFileLog::close() {
  flush();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace shoal
