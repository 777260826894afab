// applyFileOps / lgetxattr: the napi face of fileops.cc. Arguments are checked and copied on the
// JS thread (a bad op rejects before anything is touched); the syscalls run as one async work item.
#include <math.h>
#include <napi.h>
#include <sys/stat.h>
#include <uv.h>

#include <string>
#include <vector>

#include "../../include/shoal_native.h"

namespace shoal_native {

namespace {

class BadOp : public std::exception {
 public:
  explicit BadOp(std::string m) : msg(std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

// A string with no NUL in it: a NUL would silently cut the path the kernel sees.
std::string text(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw BadOp(where + "." + key + ": must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty()) throw BadOp(where + "." + key + ": must not be empty");
  if (s.find('\0') != std::string::npos) throw BadOp(where + "." + key + ": must not contain NUL");
  return s;
}

uint32_t u32(const Napi::Object& o, const char* key, const std::string& where, double max, bool optional = false) {
  Napi::Value v = o.Get(key);
  if (optional && v.IsUndefined()) return 0;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max && d == floor(d)))
    throw BadOp(where + "." + key + ": must be an integer from 0 to " + std::to_string(static_cast<uint64_t>(max)));
  return static_cast<uint32_t>(d);
}

struct timespec seconds(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!isfinite(d)) throw BadOp(where + "." + key + ": must be a finite number of seconds");
  struct timespec ts;
  double whole = floor(d);
  ts.tv_sec = static_cast<time_t>(whole);
  ts.tv_nsec = static_cast<long>((d - whole) * 1e9);
  if (ts.tv_nsec > 999999999) ts.tv_nsec = 999999999;
  return ts;
}

FileOp parse_op(const Napi::Value& v, const std::string& where) {
  if (!v.IsObject()) throw BadOp(where + ": must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value kind = o.Get("op");
  std::string name = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  FileOp op;
  op.path = text(o, "path", where);
  if (name == "mknod") {
    op.kind = FileOp::Mknod;
    op.mode = u32(o, "mode", where, 0xffff);
    mode_t type = op.mode & S_IFMT;
    if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO)
      throw BadOp(where + ".mode: must be S_IFCHR, S_IFBLK or S_IFIFO plus permission bits");
    op.major = u32(o, "major", where, 0xfff, true);  // the kernel's limits: 12-bit major, 20-bit minor
    op.minor = u32(o, "minor", where, 0xfffff, true);
  } else if (name == "lchown") {
    op.kind = FileOp::Lchown;
    op.uid = u32(o, "uid", where, 4294967294.0);  // (uid_t)-1 means "unchanged": not a real owner
    op.gid = u32(o, "gid", where, 4294967294.0);
  } else if (name == "chmod") {
    op.kind = FileOp::Chmod;
    op.mode = u32(o, "mode", where, 07777);
  } else if (name == "lutimes") {
    op.kind = FileOp::Lutimes;
    op.atime = seconds(o, "atime", where);
    op.mtime = seconds(o, "mtime", where);
  } else if (name == "lsetxattr") {
    op.kind = FileOp::Lsetxattr;
    op.name = text(o, "name", where);
    Napi::Value value = o.Get("value");
    if (!value.IsBuffer()) throw BadOp(where + ".value: must be a Buffer");
    auto buf = value.As<Napi::Buffer<char>>();
    op.value.assign(buf.Data(), buf.Length());
  } else if (name == "mountTmpfs") {
    op.kind = FileOp::MountTmpfs;
    op.mode = u32(o, "mode", where, 07777);
    Napi::Value v = o.Get("size");
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1 && d <= 9007199254740991.0 && d == floor(d))) throw BadOp(where + ".size: must be a positive integer");
    op.size = static_cast<uint64_t>(d);
  } else if (name == "umount") {
    op.kind = FileOp::Umount;
  } else if (name == "mkdir") {
    op.kind = FileOp::Mkdir;
    op.mode = u32(o, "mode", where, 07777);
  } else if (name == "writeFile") {
    op.kind = FileOp::WriteFile;
    op.mode = u32(o, "mode", where, 07777);
    Napi::Value value = o.Get("value");
    if (!value.IsBuffer()) throw BadOp(where + ".value: must be a Buffer");
    auto buf = value.As<Napi::Buffer<char>>();
    op.value.assign(buf.Data(), buf.Length());
  } else if (name == "rename") {
    op.kind = FileOp::Rename;
    op.target = text(o, "to", where);
  } else if (name == "spreadSubdirs") {
    op.kind = FileOp::SpreadSubdirs;
  } else {
    throw BadOp(where +
                ".op: must be one of mknod, lchown, chmod, lutimes, lsetxattr, mountTmpfs, umount, mkdir, writeFile, "
                "rename, spreadSubdirs");
  }
  return op;
}

// `ENOENT mknod /x/dev/foo: no such file or directory`, with Node's errno-error properties.
Napi::Error errno_error(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(code) + " " + syscall + " " + path + ": " + uv_strerror(-err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("path", Napi::String::New(env, path));
  return e;
}

Napi::Value rejected(Napi::Env env, const Napi::Value& reason) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(reason);
  return d.Promise();
}

class FileOpsWorker : public Napi::AsyncWorker {
 public:
  FileOpsWorker(Napi::Env env, std::vector<FileOp> ops)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), ops_(std::move(ops)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { failure_ = apply_file_ops(ops_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (failure_.err == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    Napi::Error e = errno_error(env, failure_.err, failure_.syscall, ops_[failure_.index].path);
    e.Set("index", Napi::Number::New(env, static_cast<double>(failure_.index)));
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<FileOp> ops_;
  FileOpFailure failure_;
};

class GetXattrWorker : public Napi::AsyncWorker {
 public:
  GetXattrWorker(Napi::Env env, std::string path, std::string name)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        name_(std::move(name)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { err_ = get_xattr(path_, name_, value_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0)
      deferred_.Resolve(Napi::Buffer<char>::Copy(env, value_.data(), value_.size()));
    else if (err_ == ENODATA)
      deferred_.Resolve(env.Null());
    else
      deferred_.Reject(errno_error(env, err_, "lgetxattr", path_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_, name_, value_;
  int err_ = 0;
};

Napi::Value ApplyFileOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<FileOp> ops;
  try {
    if (!info[0].IsArray()) throw BadOp("ops: must be an array");
    Napi::Array arr = info[0].As<Napi::Array>();
    ops.reserve(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); i++) ops.push_back(parse_op(arr.Get(i), "ops[" + std::to_string(i) + "]"));
  } catch (const BadOp& e) {
    return rejected(env, Napi::TypeError::New(env, std::string("applyFileOps: ") + e.what()).Value());
  }
  auto* w = new FileOpsWorker(env, std::move(ops));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  try {
    Napi::Object args = Napi::Object::New(env);
    args.Set("path", info[0]);
    args.Set("name", info[1]);
    path = text(args, "path", "lgetxattr");
    name = text(args, "name", "lgetxattr");
  } catch (const BadOp& e) {
    return rejected(env, Napi::TypeError::New(env, e.what()).Value());
  }
  auto* w = new GetXattrWorker(env, std::move(path), std::move(name));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void register_file_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("applyFileOps", Napi::Function::New(env, ApplyFileOps));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
}

}  // namespace shoal_native
