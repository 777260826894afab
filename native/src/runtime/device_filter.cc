#include "device_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "util.h"

namespace shoal {

const std::vector<DeviceRule>& default_device_rules() {
  static const std::vector<DeviceRule> rules = {
      {true, 'c', 1, 3, "rwm"},  {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 7, "rwm"},
      {true, 'c', 1, 8, "rwm"},  {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 0, "rwm"},
      {true, 'c', 5, 1, "rwm"},  {true, 'c', 5, 2, "rwm"}, {true, 'c', 136, -1, "rwm"},
  };
  return rules;
}

namespace {

unsigned access_bits(const std::string& access) {
  unsigned bits = 0;
  for (char c : access) {
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
  }
  return bits;
}

// The v1 controller's own list operations (security/device_cgroup.c): add merges the access bits of an
// exception with the same key, remove takes bits away and drops an exception left with none.
void add_exception(DevicePolicy& p, const DeviceException& ex) {
  for (auto& e : p.exceptions)
    if (e.type == ex.type && e.major == ex.major && e.minor == ex.minor) {
      e.access |= ex.access;
      return;
    }
  if (ex.access) p.exceptions.push_back(ex);
}

void remove_exception(DevicePolicy& p, const DeviceException& ex) {
  for (auto it = p.exceptions.begin(); it != p.exceptions.end(); ++it)
    if (it->type == ex.type && it->major == ex.major && it->minor == ex.minor) {
      it->access &= ~ex.access;
      if (!it->access) p.exceptions.erase(it);
      return;
    }
}

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Registers after the prologue: r2 device type, r3 requested access, r4 major, r5 minor.
bpf_insn load_ctx(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, 1, off, 0); }
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) { return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn mov32_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn jump_imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
bpf_insn ret(int32_t verdict) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, verdict); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

long bpf(int cmd, union bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

}  // namespace

DevicePolicy device_policy(const std::vector<DeviceRule>& rules) {
  DevicePolicy p;
  for (auto& r : rules) {
    if (r.type == 'a') {  // "a": the whole list is reset, whatever numbers and access follow
      p.exceptions.clear();
      p.default_allow = r.allow;
      continue;
    }
    DeviceException ex{r.type, r.major, r.minor, access_bits(r.access)};
    // An allow on an allow-all cgroup removes a deny exception, and the reverse.
    if (r.allow == p.default_allow) remove_exception(p, ex);
    else add_exception(p, ex);
  }
  return p;
}

std::vector<bpf_insn> device_filter_program(const DevicePolicy& policy) {
  std::vector<bpf_insn> prog = {
      load_ctx(2, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_AND, 2, 0xffff),
      load_ctx(3, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32_imm(BPF_RSH, 3, 16),
      load_ctx(4, offsetof(bpf_cgroup_dev_ctx, major)),
      load_ctx(5, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  const unsigned all = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
  // Default deny: a request is allowed when one exception covers all of its access bits.
  // Default allow: a request is denied when one exception shares any access bit with it.
  for (auto& ex : policy.exceptions) {
    std::vector<bpf_insn> block;
    std::vector<size_t> to_next;  // jumps to patch to the start of the next block
    auto skip_unless = [&](bpf_insn j) {
      to_next.push_back(block.size());
      block.push_back(j);
    };
    skip_unless(jump_imm(BPF_JNE, 2, ex.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0));
    if (policy.default_allow) {
      block.push_back(mov32_reg(1, 3));
      block.push_back(alu32_imm(BPF_AND, 1, static_cast<int32_t>(ex.access)));
      skip_unless(jump_imm(BPF_JEQ, 1, 0, 0));
    } else if (ex.access != all) {
      block.push_back(mov32_reg(1, 3));
      block.push_back(alu32_imm(BPF_AND, 1, static_cast<int32_t>(~ex.access & all)));
      skip_unless(jump_imm(BPF_JNE, 1, 0, 0));
    }
    if (ex.major >= 0) skip_unless(jump_imm(BPF_JNE, 4, static_cast<int32_t>(ex.major), 0));
    if (ex.minor >= 0) skip_unless(jump_imm(BPF_JNE, 5, static_cast<int32_t>(ex.minor), 0));
    block.push_back(ret(policy.default_allow ? 0 : 1));
    block.push_back(exit_insn());
    for (size_t at : to_next) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    prog.insert(prog.end(), block.begin(), block.end());
  }
  prog.push_back(ret(policy.default_allow ? 1 : 0));
  prog.push_back(exit_insn());
  return prog;
}

void attach_device_filter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules) {
  std::vector<DeviceRule> all = rules;
  all.insert(all.end(), default_device_rules().begin(), default_device_rules().end());
  std::vector<bpf_insn> prog = device_filter_program(device_policy(all));

  static const char license[] = "Apache-2.0";
  union bpf_attr load;
  std::memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(prog.data());
  load.insn_cnt = static_cast<uint32_t>(prog.size());
  load.license = reinterpret_cast<uint64_t>(license);
  int prog_fd = static_cast<int>(bpf(BPF_PROG_LOAD, &load));
  if (prog_fd < 0) {
    int err = errno;
    // Ask again with the verifier's log: its last line says why the program was refused.
    std::string log(16384, '\0');
    load.log_level = 1;
    load.log_buf = reinterpret_cast<uint64_t>(&log[0]);
    load.log_size = static_cast<uint32_t>(log.size());
    int again = static_cast<int>(bpf(BPF_PROG_LOAD, &load));
    if (again >= 0) close(again);
    log.resize(strlen(log.c_str()));
    auto lines = split(trim(log), '\n');
    std::string why = lines.empty() || lines.back().empty() ? "" : " (verifier: " + lines.back() + ")";
    fail_errno("load the cgroup v2 device program" + why, err);
  }
  fcntl(prog_fd, F_SETFD, FD_CLOEXEC);
  int cg_fd = open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg_fd < 0) {
    int err = errno;
    close(prog_fd);
    fail_errno("open cgroup " + cgroup_dir, err);
  }
  union bpf_attr attach;
  std::memset(&attach, 0, sizeof attach);
  attach.target_fd = static_cast<uint32_t>(cg_fd);
  attach.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  long rc = bpf(BPF_PROG_ATTACH, &attach);
  int err = errno;
  // The cgroup keeps its own reference: the program stays attached after these fds close and goes
  // with the cgroup when it is removed.
  close(cg_fd);
  close(prog_fd);
  if (rc < 0) fail_errno("attach the device program to " + cgroup_dir, err);
}

}  // namespace shoal
