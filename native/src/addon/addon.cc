// The napi face of shoal_native.node; see include/shoal_native.h for the contract.
#include <dlfcn.h>
#include <malloc.h>
#include <napi.h>
#include <v8.h>

#include <string>
#include <vector>

#include "../../include/shoal_native.h"

namespace shoal_native {
void register_file_ops(Napi::Env env, Napi::Object exports);  // fileops_napi.cc
void register_gunzip(Napi::Env env, Napi::Object exports);    // gunzip_napi.cc
void register_netlink(Napi::Env env, Napi::Object exports);   // netlink_napi.cc
void register_sha256(Napi::Env env, Napi::Object exports);    // sha256_napi.cc
void register_direct_io(Napi::Env env, Napi::Object exports);  // direct_io.cc
}

namespace {

std::string g_runtime_path;

std::string default_runtime_path() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&default_runtime_path), &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    auto slash = self.find_last_of('/');
    if (slash != std::string::npos) return self.substr(0, slash) + "/shoal-runtime";
  }
  return "shoal-runtime";
}

std::vector<std::string> string_array(const Napi::Env& env, const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "args must be an array of strings");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(env, "args must be an array of strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::vector<std::string> args, bool reject_on_failure)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(g_runtime_path),
        args_(std::move(args)), reject_(reject_on_failure) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  // path_ was read on the JS thread: setRuntimePath() may change the global meanwhile.
  void Execute() override { result_ = shoal_native::spawn_and_wait(path_, args_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!result_.spawn_error.empty()) {
      Napi::Error e = Napi::Error::New(env, result_.spawn_error);
      e.Set("exitCode", Napi::Number::New(env, -1));
      deferred_.Reject(e.Value());
      return;
    }
    if (reject_) {
      if (result_.code == 0) {
        deferred_.Resolve(env.Undefined());
        return;
      }
      std::string msg = result_.err;
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
      auto nl = msg.find_last_of('\n');  // the runtime's last line is its verdict
      if (nl != std::string::npos) msg = msg.substr(nl + 1);
      if (msg.empty()) msg = "shoal-runtime exited with status " + std::to_string(result_.code);
      Napi::Error e = Napi::Error::New(env, msg);
      e.Set("exitCode", Napi::Number::New(env, result_.code));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", Napi::Number::New(env, result_.code));
    o.Set("stdout", Napi::String::New(env, result_.out));
    o.Set("stderr", Napi::String::New(env, result_.err));
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::vector<std::string> args_;
  bool reject_;
  shoal_native::SpawnResult result_;
};

Napi::Value Create(const Napi::CallbackInfo& info) {
  auto* w = new SpawnWorker(info.Env(), string_array(info.Env(), info[0]), true);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Runtime(const Napi::CallbackInfo& info) {
  auto* w = new SpawnWorker(info.Env(), string_array(info.Env(), info[0]), false);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  auto p = shoal_native::probe();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cgroup", p.cgroup);
  o.Set("seccomp", p.seccomp);
  o.Set("overlay", p.overlay);
  return o;
}

Napi::Value RuntimePath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), g_runtime_path); }

Napi::Value SetRuntimePath(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path must be a string");
  g_runtime_path = info[0].As<Napi::String>().Utf8Value();
  return info.Env().Undefined();
}

// Gives back what a busy spell left behind. V8 first: its low-memory notification runs full, compacting
// collections and releases the pages they empty (an idle isolate allocates too little to collect on its
// own). Then glibc: freed blocks stay in its arenas for reuse, and after large buffers its dynamic mmap
// threshold keeps even big blocks on the heap, so malloc_trim hands every arena's free pages back.
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

// malloc_trim alone. What a collection lets go of is not all freed during it: V8 sweeps dead ArrayBuffers'
// backing stores on a background task and Node-API finalizers (the addon's aligned buffers) run on a
// later turn of the loop, so a trim right after the collection misses them (a pull's ~20 MB of buffers).
Napi::Value TrimMemory(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  g_runtime_path = default_runtime_path();
  exports.Set("create", Napi::Function::New(env, Create));
  exports.Set("runtime", Napi::Function::New(env, Runtime));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("runtimePath", Napi::Function::New(env, RuntimePath));
  exports.Set("setRuntimePath", Napi::Function::New(env, SetRuntimePath));
  exports.Set("releaseMemory", Napi::Function::New(env, ReleaseMemory));
  exports.Set("trimMemory", Napi::Function::New(env, TrimMemory));
  shoal_native::register_file_ops(env, exports);
  shoal_native::register_gunzip(env, exports);
  shoal_native::register_sha256(env, exports);
  shoal_native::register_direct_io(env, exports);
  shoal_native::register_netlink(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(shoal_native, Init)
