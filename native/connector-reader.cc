// The process-connector reader: NETLINK_CONNECTOR bound to CN_IDX_PROC. An exec event carries
// only a pid, so everything else is read from /proc at once, on this thread; a process that
// has already gone yields an event with argvMissing. Fork events keep a pid→parent table so
// such an event still names its parent.
#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proc-snapshot.h"
#include "reader.h"

namespace nw {

namespace {

constexpr int kBatchMsgs = 64;
constexpr size_t kMsgBytes = 256;  // nlmsghdr + cn_msg + proc_event is under 100 bytes

class ConnectorReader final : public Reader {
 public:
  int Open(const ReaderOptions& opts, std::string* what) override {
    proc_.reset(new ProcSnapshot(opts.proc_root));
    fd_ = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd_ < 0) {
      *what = "cannot open a NETLINK_CONNECTOR socket (kernel without CONFIG_CONNECTOR?)";
      return -errno;
    }
    rcvbuf_ = GrowReceiveBuffer(fd_, opts.rcvbuf_bytes);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = CN_IDX_PROC;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      int e = errno;
      *what = "cannot join the process connector group (CAP_NET_ADMIN before Linux 6.6; host network)";
      Close();
      return -e;
    }
    int r = SendOp(PROC_CN_MCAST_LISTEN);
    if (r < 0) {
      *what = "cannot send PROC_CN_MCAST_LISTEN (kernel without CONFIG_PROC_EVENTS?)";
      Close();
      return r;
    }
    listening_ = true;
    // A pid→parent table the size of pid_max, zeroed lazily by the kernel page by page.
    pid_max_ = 4194304;
    if (FILE* f = fopen("/proc/sys/kernel/pid_max", "re")) {
      long v = 0;
      if (fscanf(f, "%ld", &v) == 1 && v > 0 && v <= 4194304) pid_max_ = static_cast<int32_t>(v);
      fclose(f);
    }
    parents_ = static_cast<int32_t*>(calloc(static_cast<size_t>(pid_max_) + 1, sizeof(int32_t)));
    return 0;
  }

  const char* kind() const override { return "connector"; }
  int batch_msgs() const override { return kBatchMsgs; }
  size_t msg_bytes() const override { return kMsgBytes; }
  void OnDatagram(const void* data, size_t len, uint64_t /*now*/) override { OnMessage(data, len); }

  void Close() override {
    if (fd_ >= 0) {
      // Keeps the kernel's listener count right (it stops building events at zero).
      if (listening_) SendOp(PROC_CN_MCAST_IGNORE);
      close(fd_);
    }
    listening_ = false;
    fd_ = -1;
    free(parents_);
    parents_ = nullptr;
  }

  ~ConnectorReader() override { Close(); }

 private:
  int SendOp(proc_cn_mcast_op op) {
    char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(op))] = {};
    nlmsghdr* nlh = reinterpret_cast<nlmsghdr*>(buf);
    nlh->nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(op));
    nlh->nlmsg_type = NLMSG_DONE;
    nlh->nlmsg_pid = 0;
    cn_msg* msg = static_cast<cn_msg*>(NLMSG_DATA(nlh));
    msg->id.idx = CN_IDX_PROC;
    msg->id.val = CN_VAL_PROC;
    msg->len = sizeof(op);
    memcpy(msg->data, &op, sizeof(op));
    if (send(fd_, buf, nlh->nlmsg_len, 0) < 0) return -errno;
    return 0;
  }

  void OnMessage(const void* data, size_t len) {
    if (len < NLMSG_HDRLEN + sizeof(cn_msg) + offsetof(proc_event, event_data)) return;
    const nlmsghdr* nlh = static_cast<const nlmsghdr*>(data);
    const cn_msg* msg = static_cast<const cn_msg*>(NLMSG_DATA(nlh));
    if (msg->id.idx != CN_IDX_PROC || msg->id.val != CN_VAL_PROC) return;
    proc_event ev;
    size_t have = len - NLMSG_HDRLEN - sizeof(cn_msg);
    memset(&ev, 0, sizeof(ev));
    memcpy(&ev, msg->data, have < sizeof(ev) ? have : sizeof(ev));
    switch (ev.what) {
      case proc_event::PROC_EVENT_FORK: {
        const auto& f = ev.event_data.fork;
        // Threads share their tgid: only a new process gets a table entry.
        if (f.child_pid == f.child_tgid && InTable(f.child_tgid)) {
          parents_[f.child_tgid] = f.parent_tgid;
        }
        return;
      }
      case proc_event::PROC_EVENT_EXEC: {
        int32_t pid = ev.event_data.exec.process_tgid;
        builder_.Reset(Source::Connector);
        ExecRecord& rec = builder_.rec;
        rec.time_ns = RealtimeNs();
        proc_->ReadAll(pid, builder_);
        if (rec.ppid == 0 && InTable(pid)) rec.ppid = parents_[pid];
        builder_.Seal();
        pump.Push(rec, MonotonicNs());
        return;
      }
      case proc_event::PROC_EVENT_EXIT: {
        const auto& x = ev.event_data.exit;
        if (x.process_pid == x.process_tgid && InTable(x.process_tgid)) {
          parents_[x.process_tgid] = 0;
        }
        return;
      }
      default:
        return;
    }
  }

  bool InTable(int32_t pid) const { return parents_ && pid > 0 && pid <= pid_max_; }

  bool listening_ = false;
  int32_t pid_max_ = 0;
  int32_t* parents_ = nullptr;
  std::unique_ptr<ProcSnapshot> proc_;
  ExecBuilder builder_;
};

}  // namespace

std::unique_ptr<Reader> NewConnectorReader() {
  return std::unique_ptr<Reader>(new ConnectorReader());
}

}  // namespace nw
