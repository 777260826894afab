// Gunzip: the napi face of gunzip.cc. Each step inflates on the thread pool, into a buffer JavaScript
// allocated (as node:zlib does: fresh memory from our own malloc in pool threads cost page faults
// and unmaps), while JavaScript unpacks what the previous step gave. Asked to, a step also hashes
// what it inflated (SHA-256, a layer's diff-id) while the bytes are still in the core's cache, in the
// same trip through the pool: a separate hash was one more trip per MiB.
#include <napi.h>
#include <openssl/evp.h>

#include "../../include/shoal_native.h"

namespace shoal_native {

// hex SHA-256 of a copy of ctx's state (sha256_napi.cc)
Napi::String hex_digest(Napi::Env env, EVP_MD_CTX* ctx, const char* what);

namespace {

class GunzipObject;

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, GunzipObject* owner, Napi::Buffer<uint8_t> input, Napi::Buffer<uint8_t> output);
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;

 private:
  Napi::Promise::Deferred deferred_;
  GunzipObject* owner_;
  // keep both buffers alive while the pool reads and writes them
  Napi::Reference<Napi::Buffer<uint8_t>> input_ref_, output_ref_;
  const uint8_t* in_;
  size_t in_len_;
  uint8_t* out_;
  size_t out_len_;
  GunzipStep step_;
};

class GunzipObject : public Napi::ObjectWrap<GunzipObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Gunzip",
                       {InstanceMethod("step", &GunzipObject::Step), InstanceMethod("complete", &GunzipObject::Complete),
                        InstanceMethod("outputDigest", &GunzipObject::OutputDigest)});
  }
  // new Gunzip(hashOutput?: boolean)
  explicit GunzipObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GunzipObject>(info) {
    if (info.Length() > 0 && info[0].ToBoolean()) {
      hash = EVP_MD_CTX_new();
      if (!hash || EVP_DigestInit_ex(hash, EVP_sha256(), nullptr) != 1)
        throw Napi::Error::New(info.Env(), "Gunzip: OpenSSL could not start a SHA-256 context");
    }
  }
  ~GunzipObject() override { EVP_MD_CTX_free(hash); }

  Gunzip core;
  EVP_MD_CTX* hash = nullptr;  // of the output, when asked for
  bool busy = false;

 private:
  // step(input: Buffer, output: Buffer): Promise<{ used: number, produced: number }>
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "Gunzip.step: input must be a Buffer");
    if (!info[1].IsBuffer() || info[1].As<Napi::Buffer<uint8_t>>().Length() == 0)
      throw Napi::TypeError::New(env, "Gunzip.step: output must be a non-empty Buffer");
    if (busy) throw Napi::Error::New(env, "Gunzip.step: the previous step has not finished");
    busy = true;
    Ref();  // the object outlives its step even if JavaScript drops it
    auto* w = new StepWorker(env, this, info[0].As<Napi::Buffer<uint8_t>>(), info[1].As<Napi::Buffer<uint8_t>>());
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Complete(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core.complete()); }

  // outputDigest(): string, hex SHA-256 of everything inflated so far
  Napi::Value OutputDigest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!hash) throw Napi::Error::New(env, "Gunzip.outputDigest: made without hashOutput");
    if (busy) throw Napi::Error::New(env, "Gunzip.outputDigest: a step has not finished");
    return hex_digest(env, hash, "Gunzip.outputDigest");
  }
};

StepWorker::StepWorker(Napi::Env env, GunzipObject* owner, Napi::Buffer<uint8_t> input, Napi::Buffer<uint8_t> output)
    : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner),
      input_ref_(Napi::Persistent(input)), output_ref_(Napi::Persistent(output)), in_(input.Data()),
      in_len_(input.Length()), out_(output.Data()), out_len_(output.Length()) {}

void StepWorker::Execute() {
  step_ = owner_->core.step(in_, in_len_, out_, out_len_);
  if (owner_->hash && step_.produced > 0 && EVP_DigestUpdate(owner_->hash, out_, step_.produced) != 1)
    SetError("Gunzip.step: OpenSSL failed");
}

void StepWorker::OnOK() {
  Napi::Env env = Env();
  owner_->busy = false;
  owner_->Unref();
  if (step_.error != 0) {
    Napi::Error e = Napi::Error::New(env, Gunzip::describe(step_.error));
    e.Set("code", Napi::String::New(env, "EGUNZIP"));
    deferred_.Reject(e.Value());
    return;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("used", Napi::Number::New(env, static_cast<double>(step_.used)));
  r.Set("produced", Napi::Number::New(env, static_cast<double>(step_.produced)));
  deferred_.Resolve(r);
}

}  // namespace

void register_gunzip(Napi::Env env, Napi::Object exports) { exports.Set("Gunzip", GunzipObject::Define(env)); }

}  // namespace shoal_native
