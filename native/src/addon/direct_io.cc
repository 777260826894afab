// Appending to a file opened with O_DIRECT, and the page-aligned buffers that make it possible.
//
// A pulled layer's blob is written once, fsynced before it is named, and read again only by a push
// or a save: keeping its pages in the page cache only costs a copy into pages the machine must find
// (on a VM whose freed memory the host takes back, a fresh page costs a fault in the host: 136 MB of
// blob took 0.02-0.3 s of kernel time, varying pull to pull). Written straight from the pool's
// aligned chunks, the copy is gone and the device is busy while the pull goes on, not at the fsync.
// Whatever cannot go direct (an unaligned address, length or offset — the blob's tail, a chunk that
// did not come from the pool — or a file system that refuses it) clears O_DIRECT on the descriptor
// and is written through the page cache, as before: direct I/O is an optimisation, never a failure.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

namespace shoal_native {

// Address, length and offset alignment accepted by every Linux file system that does O_DIRECT
// (most need only the device's logical block, 512 bytes, but a 4 KiB-sector device needs this).
constexpr size_t kDirectAlign = 4096;

namespace {

bool aligned(uintptr_t v) { return (v & (kDirectAlign - 1)) == 0; }

// The descriptor writes through the page cache from now on. F_SETFL changes the open file, not only
// this descriptor: the callers own theirs alone and write one chunk at a time.
void drop_direct(int fd, int flags) { fcntl(fd, F_SETFL, flags & ~O_DIRECT); }

}  // namespace

// Writes all of data at the descriptor's offset; 0 or the errno of the write that failed.
int append_all(int fd, const uint8_t* data, size_t len) {
  int flags = fcntl(fd, F_GETFL);
  bool direct = flags >= 0 && (flags & O_DIRECT) != 0;
  off_t pos = direct ? lseek(fd, 0, SEEK_CUR) : 0;
  if (direct && pos < 0) return errno;
  for (size_t off = 0; off < len;) {
    size_t n = len - off;
    if (direct) {
      size_t whole = n & ~(kDirectAlign - 1);
      if (!aligned(reinterpret_cast<uintptr_t>(data + off)) || !aligned(static_cast<uintptr_t>(pos)) || whole == 0) {
        drop_direct(fd, flags);
        direct = false;
      } else {
        n = whole;
      }
    }
    ssize_t w = write(fd, data + off, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && direct) {  // this file system will not do it after all
      drop_direct(fd, flags);
      direct = false;
      continue;
    }
    if (w < 0) return errno;
    off += static_cast<size_t>(w);
    pos += w;
  }
  return 0;
}

namespace {

// alignedBuffer(size): a Buffer of size bytes (contents undefined) at a page-aligned address, for
// chunks that may be written with O_DIRECT. Counted as external memory, as Node's own are.
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double d = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(d > 0 && d <= (1 << 30) && d == static_cast<size_t>(d)))
    throw Napi::TypeError::New(env, "alignedBuffer: size must be a whole number of bytes, 1 to 1 GiB");
  size_t size = static_cast<size_t>(d);
  void* p = nullptr;
  if (posix_memalign(&p, kDirectAlign, size) != 0) throw Napi::Error::New(env, "alignedBuffer: out of memory");
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(size));
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), size, [size](Napi::Env e, uint8_t* q) {
    free(q);
    Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(size));
  });
}

}  // namespace

void register_direct_io(Napi::Env env, Napi::Object exports) {
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer, "alignedBuffer"));
}

}  // namespace shoal_native
