// nftables scripts through libnftables (Debian's libnftables1): the text `nft -f -` reads, parsed and
// sent as one netlink transaction by the library in this process, instead of a forked `nft` per
// change. A context per call: libnftables contexts are not shared between threads.
#include <nftables/libnftables.h>

#include <memory>
#include <string>

#include "../../include/shoal_native.h"

namespace shoal_native {

bool nft_apply(const std::string& text, std::string& error) {
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) {
    error = "cannot make an nftables context";
    return false;
  }
  // Output and errors are kept in buffers (never printed on the daemon's stdout or stderr).
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (nft_run_cmd_from_buffer(ctx.get(), text.c_str()) == 0) return true;
  const char* e = nft_ctx_get_error_buffer(ctx.get());
  error = e && *e ? e : "nftables refused the script";
  while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
  return false;
}

}  // namespace shoal_native
