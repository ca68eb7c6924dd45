// The audit stream reader: a NETLINK_AUDIT socket that either joins the read-only multicast
// group (default: coexists with a node's auditd) or registers itself as the audit daemon
// (unicast, for nodes without one; it unregisters on Close). Records go through the
// assembler; finished execs and CONFIG_CHANGE records go to the pump.
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "audit-assembler.h"
#include "audit-control.h"
#include "reader.h"

namespace nw {

int GrowReceiveBuffer(int fd, int bytes) {
  // SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the kernel caps SO_RCVBUF at rmem_max.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  int got = 0;
  socklen_t len = sizeof(got);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  return got;
}

namespace {

constexpr int kBatchMsgs = 32;
constexpr size_t kMsgBytes = 16 * 1024;  // records top out near 9 KB (MAX_AUDIT_MESSAGE_LENGTH)

class AuditReader final : public Reader, private AssemblerSink {
 public:
  int Open(const ReaderOptions& opts, std::string* what) override {
    unicast_ = opts.unicast;
    proc_.reset(new ProcSnapshot(opts.proc_root));
    assembler_.reset(new AuditAssembler(opts.rule_key, proc_.get(), this));
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (fd_ < 0) {
      *what = "cannot open a NETLINK_AUDIT socket (kernel without audit?)";
      return -errno;
    }
    rcvbuf_ = GrowReceiveBuffer(fd_, opts.rcvbuf_bytes);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (!unicast_) addr.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      int e = errno;
      *what = unicast_ ? "cannot bind a NETLINK_AUDIT socket"
                       : "cannot join the audit multicast group (needs CAP_AUDIT_READ)";
      Close();
      return -e;
    }
    if (unicast_) {
      // Registration must come from this very socket: the kernel unicasts to its port. The
      // socket blocks (the thread reads with MSG_DONTWAIT), so bound the wait for the ack.
      timeval tv{2, 0};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      int r = AuditSetStatus(fd_, AUDIT_STATUS_PID, 0, static_cast<uint32_t>(getpid()));
      if (r < 0) {
        *what = r == -EEXIST ? "another audit daemon is registered (use multicast mode)"
                             : "cannot register as the audit daemon (AUDIT_SET pid)";
        Close();
        return r;
      }
      registered_ = true;
    }
    return 0;
  }

  const char* kind() const override { return "audit"; }
  int batch_msgs() const override { return kBatchMsgs; }
  size_t msg_bytes() const override { return kMsgBytes; }

  void OnDatagram(const void* data, size_t len, uint64_t now) override {
    if (len < NLMSG_HDRLEN) return;
    const nlmsghdr* nlh = static_cast<const nlmsghdr*>(data);
    if (nlh->nlmsg_type < AUDIT_FIRST_USER_MSG) return;  // acks, done, errors
    // One record per datagram; the unicast path sets nlmsg_len to the payload length only (an
    // old quirk), so trust the datagram length instead.
    assembler_->OnRecord(nlh->nlmsg_type,
                         std::string_view(static_cast<const char*>(data) + NLMSG_HDRLEN, len - NLMSG_HDRLEN), now);
  }

  // Groups whose EOE never came are emitted after a timeout.
  uint64_t Tick(uint64_t now) override { return assembler_->Expire(now); }
  void Finish() override { assembler_->FlushAll(); }

  void Close() override {
    if (fd_ >= 0 && registered_) {
      // Unregister explicitly; the kernel would otherwise only notice at its next send.
      int ctl = OpenAuditSocket();
      if (ctl >= 0) {
        AuditSetStatus(ctl, AUDIT_STATUS_PID, 0, 0);
        close(ctl);
      }
      registered_ = false;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  ~AuditReader() override { Close(); }

 private:
  void Emit(ExecRecord& rec) override { pump.Push(rec, MonotonicNs()); }
  void ConfigChange(uint64_t time_ns, std::string_view body) override {
    pump.NoteConfigChange(time_ns, body);
  }
  void FileChange(FileChangeNote& note) override { pump.NoteFileChange(note); }

  bool unicast_ = false;
  bool registered_ = false;
  std::unique_ptr<ProcSnapshot> proc_;
  std::unique_ptr<AuditAssembler> assembler_;
};

}  // namespace

std::unique_ptr<Reader> NewAuditReader() { return std::unique_ptr<Reader>(new AuditReader()); }

}  // namespace nw
