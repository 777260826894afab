// Network namespaces and rtnetlink (links, addresses, routes, neighbours, FDB) through libmnl.
// Everything here runs off the JS thread (napi async work). A namespace is entered only by a
// short-lived thread of our own: a netlink socket stays bound to the namespace it was opened in,
// so the thread opens the socket there and ends; the thread-pool threads never change namespace.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../include/shoal_native.h"

namespace shoal_native {

namespace {

NetError fail(int err, const std::string& what, size_t index = 0) {
  NetError e;
  e.err = err;
  e.what = what;
  e.index = index;
  return e;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Brings `lo` up through a socket of the calling thread's namespace.
int loopback_up_here() {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) return errno;
  int rc = 0;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    rc = errno;
  } else {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* h = mnl_nlmsg_put_header(buf);
    h->nlmsg_type = RTM_NEWLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = 1;  // lo is always index 1 in a fresh namespace
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) {
      rc = errno;
    } else {
      int n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
      if (n < 0 || mnl_cb_run(buf, n, 1, mnl_socket_get_portid(nl), nullptr, nullptr) < 0) rc = errno;
    }
  }
  mnl_socket_close(nl);
  return rc;
}

}  // namespace

NetError netns_create(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail(errno, "create " + path);
  close(fd);
  NetError out;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) < 0) {
      out = fail(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
      out = fail(errno, "bind-mount netns onto " + path);
      return;
    }
    int e = loopback_up_here();
    if (e) out = fail(e, "set lo up in " + path);
  });
  t.join();
  if (out.err) {
    umount2(path.c_str(), MNT_DETACH);
    unlink(path.c_str());
  }
  return out;
}

NetError netns_delete(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return fail(errno, "stat " + path);
  // Not mounted (EINVAL) is fine: a half-made file from a crash is removed all the same.
  if (umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL) return fail(errno, "umount " + path);
  if (unlink(path.c_str()) < 0) return fail(errno, "unlink " + path);
  return NetError{};
}

namespace {

// One rtnetlink socket, opened in the namespace at `netns` ("" = the daemon's own).
class Rtnl {
 public:
  mnl_socket* nl = nullptr;
  unsigned portid = 0;
  unsigned seq = 0;

  int open_in(const std::string& netns) {
    int err = 0;
    auto opener = [&] {
      nl = mnl_socket_open(NETLINK_ROUTE);
      if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) err = errno ? errno : EIO;
    };
    if (netns.empty()) {
      opener();
    } else {
      int fd = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return errno;
      Fd guard(fd);
      std::thread t([&] {
        if (setns(fd, CLONE_NEWNET) < 0) {
          err = errno;
          return;
        }
        opener();
      });
      t.join();
    }
    if (!err && nl) portid = mnl_socket_get_portid(nl);
    return err;
  }
  ~Rtnl() {
    if (nl) mnl_socket_close(nl);
  }

  // Sends one request and reads until its ACK; `cb` sees data messages (for GET requests).
  int call(nlmsghdr* h, mnl_cb_t cb = nullptr, void* data = nullptr) {
    h->nlmsg_seq = ++seq;
    if (mnl_socket_sendto(nl, h, h->nlmsg_len) < 0) return errno;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
      int n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
      if (n < 0) return errno;
      int rc = mnl_cb_run(buf, n, h->nlmsg_seq, portid, cb, data);
      if (rc < 0) return errno;
      if (rc == MNL_CB_STOP) return 0;
    }
  }
};

int link_attr_cb(const nlattr* a, void* data) {
  auto* li = static_cast<LinkInfo*>(data);
  switch (mnl_attr_get_type(a)) {
    case IFLA_IFNAME:
      li->name = mnl_attr_get_str(a);
      break;
    case IFLA_MTU:
      li->mtu = mnl_attr_get_u32(a);
      break;
    case IFLA_MASTER:
      li->master = mnl_attr_get_u32(a);
      break;
    case IFLA_ADDRESS: {
      auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
      char mac[32] = "";
      if (mnl_attr_get_payload_len(a) == 6)
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5]);
      li->mac = mac;
      break;
    }
    case IFLA_LINKINFO: {
      // (mnl_attr_for_each_nested casts from void*, which C++ refuses)
      auto* in = static_cast<const nlattr*>(mnl_attr_get_payload(a));
      int left = static_cast<int>(mnl_attr_get_payload_len(a));
      while (mnl_attr_ok(in, left)) {
        if (mnl_attr_get_type(in) == IFLA_INFO_KIND) li->kind = mnl_attr_get_str(in);
        left -= MNL_ALIGN(in->nla_len);
        in = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(in) + MNL_ALIGN(in->nla_len));
      }
      break;
    }
    default:
      break;
  }
  return MNL_CB_OK;
}

int link_msg_cb(const nlmsghdr* h, void* data) {
  auto* li = static_cast<LinkInfo*>(data);
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h));
  li->index = ifi->ifi_index;
  li->up = (ifi->ifi_flags & IFF_UP) != 0;
  mnl_attr_parse(h, sizeof(*ifi), link_attr_cb, li);
  li->found = true;
  return MNL_CB_OK;
}

int get_link(Rtnl& r, const std::string& name, LinkInfo& li) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* h = mnl_nlmsg_put_header(buf);
  h->nlmsg_type = RTM_GETLINK;
  h->nlmsg_flags = NLM_F_REQUEST;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(h, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(h, IFLA_EXT_MASK, RTEXT_FILTER_VF);
  li = LinkInfo{};
  // A GET answers with the message itself (no ACK without NLM_F_ACK): one read.
  h->nlmsg_seq = ++r.seq;
  if (mnl_socket_sendto(r.nl, h, h->nlmsg_len) < 0) return errno;
  char rbuf[MNL_SOCKET_BUFFER_SIZE];
  int n = mnl_socket_recvfrom(r.nl, rbuf, sizeof(rbuf));
  if (n < 0) return errno;
  if (mnl_cb_run(rbuf, n, h->nlmsg_seq, r.portid, link_msg_cb, &li) < 0) return errno;
  return li.found ? 0 : ENODEV;
}

int index_of(Rtnl& r, const std::string& name, int& index) {
  LinkInfo li;
  int e = get_link(r, name, li);
  if (!e) index = li.index;
  return e;
}

bool parse_mac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  char extra;
  if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) return false;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return false;
    out[i] = static_cast<uint8_t>(v[i]);
  }
  return true;
}

ifinfomsg* put_link(nlmsghdr* h, uint16_t type, uint16_t flags, int index) {
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  return ifi;
}

void put_up(ifinfomsg* ifi, int up) {
  if (up < 0) return;
  ifi->ifi_change |= IFF_UP;
  if (up) ifi->ifi_flags |= IFF_UP;
}

// Per-op namespace fds (IFLA_NET_NS_FD) are opened here and closed after the op.
int open_ns(const std::string& path, std::unique_ptr<Fd>& keep) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  keep.reset(new Fd(fd));
  return fd;
}

int run_op(Rtnl& r, const NetOp& op) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* h = mnl_nlmsg_put_header(buf);
  uint8_t mac[6];
  int e = 0;
  std::unique_ptr<Fd> nsfd;
  const uint16_t create = NLM_F_CREATE | NLM_F_EXCL;
  switch (op.kind) {
    case NetOp::BridgeAdd:
    case NetOp::VethAdd:
    case NetOp::VxlanAdd: {
      int master = 0;
      if (!op.master.empty() && (e = index_of(r, op.master, master))) return e;
      int link = 0;
      if (!op.dev.empty() && (e = index_of(r, op.dev, link))) return e;
      ifinfomsg* ifi = put_link(h, RTM_NEWLINK, create, 0);
      put_up(ifi, op.up);
      mnl_attr_put_strz(h, IFLA_IFNAME, op.name.c_str());
      if (op.mtu) mnl_attr_put_u32(h, IFLA_MTU, op.mtu);
      if (!op.mac.empty() && parse_mac(op.mac, mac)) mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
      if (master) mnl_attr_put_u32(h, IFLA_MASTER, master);
      nlattr* info = mnl_attr_nest_start(h, IFLA_LINKINFO);
      if (op.kind == NetOp::BridgeAdd) {
        mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
      } else if (op.kind == NetOp::VethAdd) {
        mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
        nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
        nlattr* peer = mnl_attr_nest_start(h, 1 /* VETH_INFO_PEER */);
        auto* pifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
        // the extra header inside an attribute: mnl counts it into the nest's length
        (void)pifi;
        mnl_attr_put_strz(h, IFLA_IFNAME, op.peer.c_str());
        if (op.mtu) mnl_attr_put_u32(h, IFLA_MTU, op.mtu);
        if (!op.peerMac.empty() && parse_mac(op.peerMac, mac)) mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
        if (!op.peerNetns.empty()) {
          int fd = open_ns(op.peerNetns, nsfd);
          if (fd < 0) return -fd;
          mnl_attr_put_u32(h, IFLA_NET_NS_FD, fd);
        }
        mnl_attr_nest_end(h, peer);
        mnl_attr_nest_end(h, data);
      } else {
        mnl_attr_put_strz(h, IFLA_INFO_KIND, "vxlan");
        nlattr* data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
        mnl_attr_put_u32(h, IFLA_VXLAN_ID, op.vni);
        if (!op.local.empty()) {
          in_addr a;
          if (inet_pton(AF_INET, op.local.c_str(), &a) != 1) return EINVAL;
          mnl_attr_put(h, IFLA_VXLAN_LOCAL, 4, &a);
        }
        if (link) mnl_attr_put_u32(h, IFLA_VXLAN_LINK, link);
        mnl_attr_put_u16(h, IFLA_VXLAN_PORT, htons(op.port ? op.port : 4789));
        mnl_attr_put_u8(h, IFLA_VXLAN_LEARNING, op.learning ? 1 : 0);
        // ARP for a remote endpoint is answered by the device from its neighbour entries (no flooding).
        mnl_attr_put_u8(h, IFLA_VXLAN_PROXY, op.proxy ? 1 : 0);
        mnl_attr_nest_end(h, data);
      }
      mnl_attr_nest_end(h, info);
      return r.call(h);
    }
    case NetOp::LinkSet: {
      int index = 0;
      if ((e = index_of(r, op.name, index))) return e;
      ifinfomsg* ifi = put_link(h, RTM_NEWLINK, 0, index);
      put_up(ifi, op.up);
      if (!op.rename.empty()) mnl_attr_put_strz(h, IFLA_IFNAME, op.rename.c_str());
      if (op.mtu) mnl_attr_put_u32(h, IFLA_MTU, op.mtu);
      if (!op.mac.empty() && parse_mac(op.mac, mac)) mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
      if (!op.master.empty()) {
        int master = 0;
        if ((e = index_of(r, op.master, master))) return e;
        mnl_attr_put_u32(h, IFLA_MASTER, master);
      }
      if (!op.peerNetns.empty()) {
        int fd = open_ns(op.peerNetns, nsfd);
        if (fd < 0) return -fd;
        mnl_attr_put_u32(h, IFLA_NET_NS_FD, fd);
      }
      if ((e = r.call(h))) return e;
      if (op.hairpin >= 0) {
        // A bridge port's hairpin mode: AF_BRIDGE SETLINK with IFLA_PROTINFO/IFLA_BRPORT_MODE.
        h = mnl_nlmsg_put_header(buf);
        ifinfomsg* b = put_link(h, RTM_SETLINK, 0, index);
        b->ifi_family = AF_BRIDGE;
        nlattr* pi = mnl_attr_nest_start(h, IFLA_PROTINFO);
        mnl_attr_put_u8(h, IFLA_BRPORT_MODE, op.hairpin ? 1 : 0);
        mnl_attr_nest_end(h, pi);
        return r.call(h);
      }
      return 0;
    }
    case NetOp::LinkDel: {
      int index = 0;
      if ((e = index_of(r, op.name, index))) return e;
      put_link(h, RTM_DELLINK, 0, index);
      return r.call(h);
    }
    case NetOp::AddrAdd:
    case NetOp::AddrDel: {
      int index = 0;
      if ((e = index_of(r, op.name, index))) return e;
      h->nlmsg_type = op.kind == NetOp::AddrAdd ? RTM_NEWADDR : RTM_DELADDR;
      h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (op.kind == NetOp::AddrAdd ? create : 0);
      auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifaddrmsg)));
      ifa->ifa_family = AF_INET;
      ifa->ifa_prefixlen = op.prefix;
      ifa->ifa_index = index;
      in_addr a;
      if (inet_pton(AF_INET, op.ip.c_str(), &a) != 1) return EINVAL;
      mnl_attr_put(h, IFA_LOCAL, 4, &a);
      mnl_attr_put(h, IFA_ADDRESS, 4, &a);
      if (op.prefix < 31) {
        uint32_t mask = op.prefix ? htonl(~0u << (32 - op.prefix)) : 0;
        in_addr b;
        b.s_addr = a.s_addr | ~mask;
        mnl_attr_put(h, IFA_BROADCAST, 4, &b);
      }
      return r.call(h);
    }
    case NetOp::RouteAdd:
    case NetOp::RouteDel: {
      int oif = 0;
      if (!op.dev.empty() && (e = index_of(r, op.dev, oif))) return e;
      h->nlmsg_type = op.kind == NetOp::RouteAdd ? RTM_NEWROUTE : RTM_DELROUTE;
      h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (op.kind == NetOp::RouteAdd ? create : 0);
      auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(rtmsg)));
      rt->rtm_family = AF_INET;
      rt->rtm_dst_len = op.prefix;
      rt->rtm_table = RT_TABLE_MAIN;
      rt->rtm_protocol = RTPROT_BOOT;
      rt->rtm_scope = op.gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
      rt->rtm_type = RTN_UNICAST;
      if (op.kind == NetOp::RouteDel) rt->rtm_scope = RT_SCOPE_NOWHERE;
      in_addr a;
      if (op.prefix > 0) {
        if (inet_pton(AF_INET, op.ip.c_str(), &a) != 1) return EINVAL;
        mnl_attr_put(h, RTA_DST, 4, &a);
      }
      if (!op.gateway.empty()) {
        if (inet_pton(AF_INET, op.gateway.c_str(), &a) != 1) return EINVAL;
        mnl_attr_put(h, RTA_GATEWAY, 4, &a);
      }
      if (oif) mnl_attr_put_u32(h, RTA_OIF, oif);
      return r.call(h);
    }
    case NetOp::NeighAdd:
    case NetOp::NeighDel:
    case NetOp::FdbAdd:
    case NetOp::FdbDel: {
      int index = 0;
      if ((e = index_of(r, op.dev, index))) return e;
      bool add = op.kind == NetOp::NeighAdd || op.kind == NetOp::FdbAdd;
      bool fdb = op.kind == NetOp::FdbAdd || op.kind == NetOp::FdbDel;
      h->nlmsg_type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
      // An FDB entry for the all-zero MAC (flooding to a remote VTEP) may repeat: append.
      bool zero = fdb && op.mac == "00:00:00:00:00:00";
      h->nlmsg_flags =
          NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | (zero ? NLM_F_APPEND : NLM_F_REPLACE) : 0);
      auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ndmsg)));
      nd->ndm_family = fdb ? AF_BRIDGE : AF_INET;
      nd->ndm_ifindex = index;
      nd->ndm_state = fdb ? (NUD_PERMANENT | NUD_NOARP) : NUD_PERMANENT;
      nd->ndm_flags = fdb ? NTF_SELF : 0;
      if (!op.mac.empty()) {
        if (!parse_mac(op.mac, mac)) return EINVAL;
        mnl_attr_put(h, NDA_LLADDR, 6, mac);
      }
      if (!op.ip.empty()) {
        in_addr a;
        if (inet_pton(AF_INET, op.ip.c_str(), &a) != 1) return EINVAL;
        mnl_attr_put(h, NDA_DST, 4, &a);
      }
      return r.call(h);
    }
  }
  return EINVAL;
}

}  // namespace

NetError netlink_run(const std::vector<NetOp>& ops) {
  std::map<std::string, std::unique_ptr<Rtnl>> socks;  // one per namespace path
  for (size_t i = 0; i < ops.size(); i++) {
    const NetOp& op = ops[i];
    auto& s = socks[op.netns];
    if (!s) {
      s.reset(new Rtnl());
      int e = s->open_in(op.netns);
      if (e) return fail(e, "open netlink in " + (op.netns.empty() ? std::string("this namespace") : op.netns), i);
    }
    int e = run_op(*s, op);
    if (e) return fail(e, op.describe(), i);
  }
  return NetError{};
}

NetError link_get(const std::string& netns, const std::string& name, LinkInfo& out) {
  Rtnl r;
  int e = r.open_in(netns);
  if (e) return fail(e, "open netlink in " + netns);
  e = get_link(r, name, out);
  if (e == ENODEV) {
    out = LinkInfo{};
    return NetError{};
  }
  if (e) return fail(e, "link get " + name);
  return NetError{};
}

std::string NetOp::describe() const {
  static const char* names[] = {"bridge-add", "veth-add", "vxlan-add", "link-set", "link-del", "addr-add",
                                "addr-del",   "route-add", "route-del", "neigh-add", "neigh-del", "fdb-add",
                                "fdb-del"};
  std::string s = names[kind];
  if (!name.empty()) s += " " + name;
  if (!dev.empty()) s += " dev " + dev;
  if (!ip.empty()) s += " " + ip + (prefix ? "/" + std::to_string(prefix) : "");
  return s;
}

}  // namespace shoal_native
