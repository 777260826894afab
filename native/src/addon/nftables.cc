// nftables scripts through libnftables (Debian's libnftables1): the text `nft -f -` reads, parsed and
// sent as one netlink transaction by the library in this process, instead of a forked `nft` per
// change. One context for the process, made at first use and kept: making one reads nft's symbol
// tables and costs more than most scripts. Contexts are not thread-safe, so calls take turns.
#include <nftables/libnftables.h>

#include <mutex>
#include <string>

#include "../../include/shoal_native.h"

namespace shoal_native {

bool nft_apply(const std::string& text, std::string& error) {
  static std::mutex lock;
  static nft_ctx* ctx = nullptr;
  std::lock_guard<std::mutex> hold(lock);
  if (!ctx) {
    ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
      error = "cannot make an nftables context";
      return false;
    }
    // Output and errors are kept in buffers (never printed on the daemon's stdout or stderr).
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
  }
  int rc = nft_run_cmd_from_buffer(ctx, text.c_str());
  // Reading a buffer also empties it for the next call.
  nft_ctx_get_output_buffer(ctx);
  const char* e = nft_ctx_get_error_buffer(ctx);
  if (rc == 0) return true;
  error = e && *e ? e : "nftables refused the script";
  while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
  return false;
}

}  // namespace shoal_native
