// Sha256: SHA-256 whose updates run on the thread pool. A pull hashes every blob and every
// uncompressed layer (~350 MB for a 200 MB image); on the JavaScript thread that hashing was the
// largest single cost and held up everything else the daemon does meanwhile. The digest comes from
// Node's own OpenSSL (the addon links against the symbols the node binary exports), so it is the
// same code and speed as node:crypto, only off the event loop.
#include <errno.h>
#include <napi.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <uv.h>

#include <string>

namespace shoal_native {

int append_all(int fd, const uint8_t* data, size_t len);  // direct_io.cc

// hex SHA-256 of a copy of ctx's state, so hashing may go on (also Gunzip's outputDigest)
Napi::String hex_digest(Napi::Env env, EVP_MD_CTX* ctx, const char* what) {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  bool ok = copy && EVP_MD_CTX_copy_ex(copy, ctx) == 1 && EVP_DigestFinal_ex(copy, md, &n) == 1;
  EVP_MD_CTX_free(copy);
  if (!ok) throw Napi::Error::New(env, std::string(what) + ": OpenSSL failed");
  static const char hex[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (unsigned int i = 0; i < n; i++) {
    s[2 * i] = hex[md[i] >> 4];
    s[2 * i + 1] = hex[md[i] & 15];
  }
  return Napi::String::New(env, s);
}

namespace {

class Sha256Object : public Napi::ObjectWrap<Sha256Object> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Sha256",
                       {InstanceMethod("update", &Sha256Object::Update), InstanceMethod("digest", &Sha256Object::Digest)});
  }
  explicit Sha256Object(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sha256Object>(info), ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw Napi::Error::New(info.Env(), "Sha256: OpenSSL could not start a SHA-256 context");
  }
  ~Sha256Object() override { EVP_MD_CTX_free(ctx); }

  EVP_MD_CTX* ctx;
  bool busy = false;

 private:
  // update(data: Buffer, fd?: number): Promise<void>; one at a time (the caller chains them). With fd,
  // the data is also written to it (at its offset) once hashed.
  Napi::Value Update(const Napi::CallbackInfo& info);

  // digest(): string, hex; the state is copied, so updates may go on
  Napi::Value Digest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy) throw Napi::Error::New(env, "Sha256.digest: an update has not finished");
    return hex_digest(env, ctx, "Sha256.digest");
  }
};

class UpdateWorker : public Napi::AsyncWorker {
 public:
  UpdateWorker(Napi::Env env, Sha256Object* owner, Napi::Buffer<uint8_t> data, int fd)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner),
        data_ref_(Napi::Persistent(data)), data_(data.Data()), len_(data.Length()), fd_(fd) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    if (EVP_DigestUpdate(owner_->ctx, data_, len_) != 1) return SetError("Sha256.update: OpenSSL failed");
    // then appended to the file, in the same trip through the pool (a blob is hashed as it is stored);
    // straight to the device where the descriptor was opened with O_DIRECT (direct_io.cc)
    if (fd_ >= 0 && (err_ = append_all(fd_, data_, len_)) != 0) return SetError("write");
  }
  void OnOK() override {
    Done();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    Done();
    if (err_ == 0) return deferred_.Reject(e.Value());
    // shaped like Node's fs errors: `ENOSPC write: no space left on device`, code, errno, syscall
    Napi::Error f = Napi::Error::New(Env(), std::string(uv_err_name(-err_)) + " write: " + uv_strerror(-err_));
    f.Set("code", Napi::String::New(Env(), uv_err_name(-err_)));
    f.Set("errno", Napi::Number::New(Env(), -err_));
    f.Set("syscall", Napi::String::New(Env(), "write"));
    deferred_.Reject(f.Value());
  }

 private:
  void Done() {
    owner_->busy = false;
    owner_->Unref();
  }
  Napi::Promise::Deferred deferred_;
  Sha256Object* owner_;
  Napi::Reference<Napi::Buffer<uint8_t>> data_ref_;  // keeps the bytes alive while the pool reads them
  const uint8_t* data_;
  size_t len_;
  int fd_;       // -1: hash only
  int err_ = 0;  // errno of a failed write
};

Napi::Value Sha256Object::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "Sha256.update: data must be a Buffer");
  int fd = -1;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    double d = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 2147483647.0 && d == static_cast<int>(d)))
      throw Napi::TypeError::New(env, "Sha256.update: fd must be a file descriptor");
    fd = static_cast<int>(d);
  }
  if (busy) throw Napi::Error::New(env, "Sha256.update: the previous update has not finished");
  busy = true;
  Ref();  // the object outlives its update even if JavaScript drops it
  auto* w = new UpdateWorker(env, this, info[0].As<Napi::Buffer<uint8_t>>(), fd);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void register_sha256(Napi::Env env, Napi::Object exports) { exports.Set("Sha256", Sha256Object::Define(env)); }

}  // namespace shoal_native
