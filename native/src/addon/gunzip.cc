// The layer unpacker's gzip decoder: ISA-L's inflate (Intel's storage-acceleration library, several
// times the speed of zlib's on this machine's cores), fed in slices, one gzip member after another.
#include <isa-l/igzip_lib.h>

#include "../../include/shoal_native.h"

namespace shoal_native {

struct Gunzip::State {
  inflate_state st;
};

Gunzip::Gunzip() : s_(new State) {}
Gunzip::~Gunzip() { delete s_; }

GunzipStep Gunzip::step(const uint8_t* in, size_t len, uint8_t* out, size_t cap) {
  GunzipStep r;
  while (r.error == 0) {
    if (!in_member_) {
      // Between members: zero bytes are padding (as zlib in Node); anything else starts a member,
      // whose header ISA-L checks.
      while (r.used < len && in[r.used] == 0 && members_ > 0) r.used++;
      if (r.used == len) break;
      isal_inflate_init(&s_->st);
      s_->st.crc_flag = ISAL_GZIP;  // parses the header, checks CRC-32 and ISIZE in the trailer
      in_member_ = true;
      members_++;
    }
    size_t room = cap - r.produced;
    if (room == 0) break;
    size_t avail = len - r.used;
    s_->st.next_in = const_cast<uint8_t*>(in + r.used);
    s_->st.avail_in = avail > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(avail);
    s_->st.next_out = out + r.produced;
    s_->st.avail_out = room > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(room);
    int ret = isal_inflate(&s_->st);
    size_t used = static_cast<size_t>(s_->st.next_in - (in + r.used));
    size_t produced = static_cast<size_t>(s_->st.next_out - (out + r.produced));
    r.used += used;
    r.produced += produced;
    if (ret < 0) {
      r.error = ret;
      break;
    }
    if (s_->st.block_state == ISAL_BLOCK_FINISH) {
      in_member_ = false;
      continue;
    }
    if (used == 0 && produced == 0) break;  // wants more input (or more room)
  }
  return r;
}

bool Gunzip::complete() const { return members_ > 0 && !in_member_; }

const char* Gunzip::describe(int error) {
  switch (error) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid code";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_NEED_DICT: return "needs a preset dictionary";
    default: return "corrupt stream";
  }
}

}  // namespace shoal_native
