// netnsCreate / netnsDelete / netlink / linkGet / nftApply: the napi face of netlink.cc and nftables.cc. Ops are checked and
// copied on the JS thread; the kernel is talked to from the thread pool (and short threads of ours).
#include <arpa/inet.h>
#include <napi.h>
#include <uv.h>

#include <map>
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

std::string str(const Napi::Object& o, const char* key, const std::string& where, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && v.IsUndefined()) return "";
  if (!v.IsString()) throw BadOp(where + "." + key + ": must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos)
    throw BadOp(where + "." + key + ": must be a non-empty string without NUL");
  return s;
}

std::string ifname(const Napi::Object& o, const char* key, const std::string& where, bool optional) {
  std::string s = str(o, key, where, optional);
  if (s.size() >= 16 || s.find('/') != std::string::npos || s.find(' ') != std::string::npos)
    throw BadOp(where + "." + key + ": \"" + s + "\" is not an interface name (at most 15 characters, no / or space)");
  return s;
}

std::string ipv4(const Napi::Object& o, const char* key, const std::string& where, bool optional) {
  std::string s = str(o, key, where, optional);
  in_addr a;
  if (!s.empty() && inet_pton(AF_INET, s.c_str(), &a) != 1)
    throw BadOp(where + "." + key + ": \"" + s + "\" is not an IPv4 address");
  return s;
}

uint32_t num(const Napi::Object& o, const char* key, const std::string& where, double max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return 0;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= max && d == static_cast<double>(static_cast<uint64_t>(d))))
    throw BadOp(where + "." + key + ": must be an integer from 0 to " + std::to_string(static_cast<uint64_t>(max)));
  return static_cast<uint32_t>(d);
}

int tristate(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return -1;
  if (!v.IsBoolean()) throw BadOp(where + "." + key + ": must be a boolean");
  return v.As<Napi::Boolean>().Value() ? 1 : 0;
}

std::string mac(const Napi::Object& o, const char* key, const std::string& where) {
  std::string s = str(o, key, where, true);
  unsigned v[6];
  char extra;
  if (!s.empty() && sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
    throw BadOp(where + "." + key + ": \"" + s + "\" is not a MAC address");
  return s;
}

const std::map<std::string, NetOp::Kind> kKinds = {
    {"bridge-add", NetOp::BridgeAdd}, {"veth-add", NetOp::VethAdd},   {"vxlan-add", NetOp::VxlanAdd},
    {"link-set", NetOp::LinkSet},     {"link-del", NetOp::LinkDel},   {"addr-add", NetOp::AddrAdd},
    {"addr-del", NetOp::AddrDel},     {"route-add", NetOp::RouteAdd}, {"route-del", NetOp::RouteDel},
    {"neigh-add", NetOp::NeighAdd},   {"neigh-del", NetOp::NeighDel}, {"fdb-add", NetOp::FdbAdd},
    {"fdb-del", NetOp::FdbDel},
};

NetOp parse_op(const Napi::Value& v, const std::string& where) {
  if (!v.IsObject()) throw BadOp(where + ": must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value k = o.Get("op");
  auto it = k.IsString() ? kKinds.find(k.As<Napi::String>().Utf8Value()) : kKinds.end();
  if (it == kKinds.end())
    throw BadOp(where + ".op: must be one of bridge-add, veth-add, vxlan-add, link-set, link-del, addr-add, addr-del, "
                        "route-add, route-del, neigh-add, neigh-del, fdb-add, fdb-del");
  NetOp op;
  op.kind = it->second;
  op.netns = str(o, "netns", where, true);
  op.up = tristate(o, "up", where);
  op.mtu = num(o, "mtu", where, 65535);
  op.mac = mac(o, "mac", where);
  op.master = ifname(o, "master", where, true);
  switch (op.kind) {
    case NetOp::BridgeAdd:
      op.name = ifname(o, "name", where, false);
      break;
    case NetOp::VethAdd:
      op.name = ifname(o, "name", where, false);
      op.peer = ifname(o, "peer", where, false);
      op.peerNetns = str(o, "peerNetns", where, true);
      op.peerMac = mac(o, "peerMac", where);
      break;
    case NetOp::VxlanAdd:
      op.name = ifname(o, "name", where, false);
      op.vni = num(o, "vni", where, 16777215);
      op.local = ipv4(o, "local", where, true);
      op.port = num(o, "port", where, 65535);
      op.dev = ifname(o, "dev", where, true);
      op.learning = tristate(o, "learning", where) == 1;
      op.proxy = tristate(o, "proxy", where) == 1;
      break;
    case NetOp::LinkSet:
      op.name = ifname(o, "name", where, false);
      op.rename = ifname(o, "rename", where, true);
      op.peerNetns = str(o, "peerNetns", where, true);
      op.hairpin = tristate(o, "hairpin", where);
      break;
    case NetOp::LinkDel:
      op.name = ifname(o, "name", where, false);
      break;
    case NetOp::AddrAdd:
    case NetOp::AddrDel:
      op.name = ifname(o, "name", where, false);
      op.ip = ipv4(o, "ip", where, false);
      op.prefix = num(o, "prefix", where, 32);
      break;
    case NetOp::RouteAdd:
    case NetOp::RouteDel:
      op.prefix = num(o, "prefix", where, 32);
      op.ip = ipv4(o, "ip", where, op.prefix == 0);
      op.gateway = ipv4(o, "gateway", where, true);
      op.dev = ifname(o, "dev", where, true);
      if (op.gateway.empty() && op.dev.empty()) throw BadOp(where + ": a route needs a gateway or a dev");
      break;
    case NetOp::NeighAdd:
    case NetOp::NeighDel:
      op.dev = ifname(o, "dev", where, false);
      op.ip = ipv4(o, "ip", where, false);
      if (op.kind == NetOp::NeighAdd && op.mac.empty()) throw BadOp(where + ".mac: a neighbour needs a MAC");
      break;
    case NetOp::FdbAdd:
    case NetOp::FdbDel:
      op.dev = ifname(o, "dev", where, false);
      if (op.mac.empty()) throw BadOp(where + ".mac: an FDB entry needs a MAC");
      op.ip = ipv4(o, "ip", where, true);
      break;
  }
  return op;
}

Napi::Value rejected(Napi::Env env, const Napi::Value& reason) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(reason);
  return d.Promise();
}

// `EEXIST bridge-add shoal0: file exists` with code, errno (negative) and the op's name and index.
Napi::Error net_error(Napi::Env env, const NetError& f, const std::string& op) {
  const char* code = uv_err_name(-f.err);
  Napi::Error e = Napi::Error::New(env, std::string(code) + " " + f.what + ": " + uv_strerror(-f.err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -f.err));
  e.Set("op", Napi::String::New(env, op));
  e.Set("index", Napi::Number::New(env, static_cast<double>(f.index)));
  return e;
}

class NetWorker : public Napi::AsyncWorker {
 public:
  enum Mode { Create, Delete, Batch, Get, Nft };
  NetWorker(Napi::Env env, Mode mode) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), mode_(mode) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  std::string path, netns, name, script;
  std::vector<NetOp> ops;

  void Execute() override {
    switch (mode_) {
      case Create:
        result_ = netns_create(path);
        break;
      case Delete:
        result_ = netns_delete(path);
        break;
      case Batch:
        result_ = netlink_run(ops);
        break;
      case Get:
        result_ = link_get(netns, name, link_);
        break;
      case Nft:
        nftOk_ = nft_apply(script, nftError_);
        break;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (mode_ == Nft) {
      if (nftOk_) {
        deferred_.Resolve(env.Undefined());
        return;
      }
      Napi::Error e = Napi::Error::New(env, "nft: " + nftError_);
      e.Set("code", Napi::String::New(env, "ENFT"));
      e.Set("op", Napi::String::New(env, "nft"));
      e.Set("index", Napi::Number::New(env, 0));
      deferred_.Reject(e.Value());
      return;
    }
    if (result_.err) {
      std::string op = mode_ == Create ? "netns-create" : mode_ == Delete ? "netns-delete" : mode_ == Get ? "link-get" : "";
      if (mode_ == Batch && result_.index < ops.size()) {
        op = ops[result_.index].describe();
        op = op.substr(0, op.find(' '));
      }
      deferred_.Reject(net_error(env, result_, op).Value());
      return;
    }
    if (mode_ != Get) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    if (!link_.found) {
      deferred_.Resolve(env.Null());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", link_.index);
    o.Set("name", link_.name);
    o.Set("kind", link_.kind);
    o.Set("mtu", link_.mtu);
    o.Set("mac", link_.mac);
    o.Set("up", link_.up);
    o.Set("master", link_.master);
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Mode mode_;
  NetError result_;
  LinkInfo link_;
  bool nftOk_ = false;
  std::string nftError_;
};

Napi::Value NetnsPathCall(const Napi::CallbackInfo& info, NetWorker::Mode mode, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty() ||
      info[0].As<Napi::String>().Utf8Value()[0] != '/')
    return rejected(env, Napi::TypeError::New(env, std::string(fn) + ": path must be an absolute path").Value());
  auto* w = new NetWorker(env, mode);
  w->path = info[0].As<Napi::String>().Utf8Value();
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NetnsCreate(const Napi::CallbackInfo& info) { return NetnsPathCall(info, NetWorker::Create, "netnsCreate"); }
Napi::Value NetnsDelete(const Napi::CallbackInfo& info) { return NetnsPathCall(info, NetWorker::Delete, "netnsDelete"); }

Napi::Value Netlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* w = new NetWorker(env, NetWorker::Batch);
  try {
    if (!info[0].IsArray()) throw BadOp("ops: must be an array");
    Napi::Array arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) w->ops.push_back(parse_op(arr.Get(i), "ops[" + std::to_string(i) + "]"));
  } catch (const BadOp& e) {
    delete w;
    return rejected(env, Napi::TypeError::New(env, std::string("netlink: ") + e.what()).Value());
  }
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value LinkGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* w = new NetWorker(env, NetWorker::Get);
  try {
    Napi::Object args = Napi::Object::New(env);
    args.Set("name", info[0]);
    args.Set("netns", info[1]);
    w->name = ifname(args, "name", "linkGet", false);
    w->netns = str(args, "netns", "linkGet", true);
  } catch (const BadOp& e) {
    delete w;
    return rejected(env, Napi::TypeError::New(env, e.what()).Value());
  }
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NftApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString())
    return rejected(env, Napi::TypeError::New(env, "nftApply: text must be a string").Value());
  std::string text = info[0].As<Napi::String>().Utf8Value();
  if (text.find('\0') != std::string::npos)
    return rejected(env, Napi::TypeError::New(env, "nftApply: text must not contain NUL").Value());
  auto* w = new NetWorker(env, NetWorker::Nft);
  w->script = std::move(text);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void register_netlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCreate", Napi::Function::New(env, NetnsCreate));
  exports.Set("netnsDelete", Napi::Function::New(env, NetnsDelete));
  exports.Set("netlink", Napi::Function::New(env, Netlink));
  exports.Set("linkGet", Napi::Function::New(env, LinkGet));
  exports.Set("nftApply", Napi::Function::New(env, NftApply));
}

}  // namespace shoal_native
