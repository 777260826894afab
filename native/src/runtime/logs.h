// docker's json-file log driver: one JSON object per line of output, rotated by size.
#pragma once
#include <cstdint>
#include <string>

namespace shoal {

class JsonFileLog {
 public:
  void open(const std::string& path, uint64_t max_size, unsigned max_files);  // throws Fail
  void adopt(int fd, const std::string& path, uint64_t max_size, unsigned max_files);  // an fd opened by open()
  int fd() const { return fd_; }
  bool enabled() const { return fd_ >= 0; }
  // stream: 1 stdout, 2 stderr. Splits into lines; a partial line waits for its end.
  void write(int stream, const char* data, size_t n);
  void flush();  // writes pending partial lines (at EOF)
  void close();

 private:
  void entry(int stream, const char* data, size_t n);
  void rotate();
  std::string path_;
  uint64_t max_size_ = 0, size_ = 0;
  unsigned max_files_ = 1;
  int fd_ = -1;
  std::string partial_[3];
};

}  // namespace shoal
