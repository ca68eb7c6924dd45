// Audit netlink request/reply plumbing (see audit-control.h).
#include "audit-control.h"

#include <climits>

#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace nw {

namespace {

std::atomic<uint32_t> g_seq{1};

int SendRequest(int fd, uint16_t type, uint16_t flags, const void* payload, size_t len,
                uint32_t* seq_out) {
  std::string msg(NLMSG_SPACE(len), '\0');
  nlmsghdr* nlh = reinterpret_cast<nlmsghdr*>(&msg[0]);
  nlh->nlmsg_len = NLMSG_LENGTH(len);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = g_seq.fetch_add(1);
  nlh->nlmsg_pid = 0;
  if (len) memcpy(NLMSG_DATA(nlh), payload, len);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd, msg.data(), nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  *seq_out = nlh->nlmsg_seq;
  return 0;
}

// Reads replies to seq until on_msg says it is done (returns 1) or fails (<0).
template <typename F>
int ReadReplies(int fd, uint32_t seq, F&& on_msg) {
  static thread_local char buf[64 * 1024];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    }
    int len = static_cast<int>(n);
    for (nlmsghdr* nlh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nlh, len);
         nlh = NLMSG_NEXT(nlh, len)) {
      if (nlh->nlmsg_seq != seq) continue;  // a late reply to an earlier request
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nlh));
        if (e->error != 0) return e->error;
        int r = on_msg(nlh, true);
        if (r) return r < 0 ? r : 0;
        continue;
      }
      int r = on_msg(nlh, false);
      if (r) return r < 0 ? r : 0;
    }
  }
}

int RequestAck(int fd, uint16_t type, const void* payload, size_t len) {
  uint32_t seq;
  int r = SendRequest(fd, type, NLM_F_ACK, payload, len, &seq);
  if (r < 0) return r;
  return ReadReplies(fd, seq, [](nlmsghdr*, bool is_ack) { return is_ack ? 1 : 0; });
}

}  // namespace

int OpenAuditSocket() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) return -errno;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int AuditGetStatus(int fd, AuditStatusData* out) {
  uint32_t seq;
  int r = SendRequest(fd, AUDIT_GET, 0, nullptr, 0, &seq);
  if (r < 0) return r;
  memset(out, 0, sizeof(*out));
  return ReadReplies(fd, seq, [&](nlmsghdr* nlh, bool is_ack) {
    if (is_ack || nlh->nlmsg_type != AUDIT_GET) return 0;
    // Older kernels send a shorter struct: copy what came.
    size_t have = nlh->nlmsg_len - NLMSG_HDRLEN;
    memcpy(out, NLMSG_DATA(nlh), have < sizeof(*out) ? have : sizeof(*out));
    return 1;
  });
}

int AuditSetStatus(int fd, uint32_t mask, uint32_t enabled, uint32_t pid) {
  audit_status s{};
  s.mask = mask;
  s.enabled = enabled;
  s.pid = pid;
  return RequestAck(fd, AUDIT_SET, &s, sizeof(s));
}

int AuditListRules(int fd, std::vector<std::string>* rules) {
  uint32_t seq;
  // No NLM_F_ACK: the kernel sends the list from a worker thread, so an ack could overtake it.
  int r = SendRequest(fd, AUDIT_LIST_RULES, 0, nullptr, 0, &seq);
  if (r < 0) return r;
  rules->clear();
  return ReadReplies(fd, seq, [&](nlmsghdr* nlh, bool is_ack) {
    if (is_ack) return 0;
    if (nlh->nlmsg_type == NLMSG_DONE) return 1;
    if (nlh->nlmsg_type == AUDIT_LIST_RULES) {
      rules->emplace_back(static_cast<const char*>(NLMSG_DATA(nlh)),
                          nlh->nlmsg_len - NLMSG_HDRLEN);
    }
    return 0;
  });
}

int AuditAddRule(int fd, const std::string& rule) {
  return RequestAck(fd, AUDIT_ADD_RULE, rule.data(), rule.size());
}

int AuditDelRule(int fd, const std::string& rule) {
  return RequestAck(fd, AUDIT_DEL_RULE, rule.data(), rule.size());
}

uint32_t ExecRuleArch(bool b64) {
#if defined(__x86_64__)
  return b64 ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
#elif defined(__aarch64__)
  return b64 ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_ARM;
#else
  return 0;
#endif
}

std::string BuildExecRule(bool b64, const std::string& key) {
#if defined(__x86_64__)
  const int execve = b64 ? 59 : 11, execveat = b64 ? 322 : 358;
#elif defined(__aarch64__)
  const int execve = b64 ? 221 : 11, execveat = b64 ? 281 : 387;
#else
  return std::string();
#endif
  if (key.empty() || key.size() > AUDIT_MAX_KEY_LEN) return std::string();
  std::string raw(sizeof(audit_rule_data) + key.size(), '\0');
  audit_rule_data* r = reinterpret_cast<audit_rule_data*>(&raw[0]);
  r->flags = AUDIT_FILTER_EXIT;
  r->action = AUDIT_ALWAYS;
  r->mask[execve / 32] |= 1u << (execve % 32);
  r->mask[execveat / 32] |= 1u << (execveat % 32);
  r->field_count = 2;
  r->fields[0] = AUDIT_ARCH;
  r->fieldflags[0] = AUDIT_EQUAL;
  r->values[0] = ExecRuleArch(b64);
  r->fields[1] = AUDIT_FILTERKEY;
  r->fieldflags[1] = AUDIT_EQUAL;
  r->values[1] = static_cast<uint32_t>(key.size());
  r->buflen = static_cast<uint32_t>(key.size());
  memcpy(r->buf, key.data(), key.size());
  return raw;
}

std::string BuildWatchRule(const std::string& path, const std::string& key) {
  if (path.empty() || path[0] != '/' || path.back() == '/' || path.size() > PATH_MAX) return std::string();
  if (key.empty() || key.size() > AUDIT_MAX_KEY_LEN) return std::string();
  std::string raw(sizeof(audit_rule_data) + path.size() + key.size(), '\0');
  audit_rule_data* r = reinterpret_cast<audit_rule_data*>(&raw[0]);
  r->flags = AUDIT_FILTER_EXIT;
  r->action = AUDIT_ALWAYS;
  // A watch applies to every syscall; AUDIT_PERM narrows it to the classes that write or
  // change attributes, as auditctl -w does.
  for (int i = 0; i < AUDIT_BITMASK_SIZE; i++) r->mask[i] = ~0u;
  r->field_count = 3;
  r->fields[0] = AUDIT_WATCH;
  r->fieldflags[0] = AUDIT_EQUAL;
  r->values[0] = static_cast<uint32_t>(path.size());
  r->fields[1] = AUDIT_PERM;
  r->fieldflags[1] = AUDIT_EQUAL;
  r->values[1] = AUDIT_PERM_WRITE | AUDIT_PERM_ATTR;
  r->fields[2] = AUDIT_FILTERKEY;
  r->fieldflags[2] = AUDIT_EQUAL;
  r->values[2] = static_cast<uint32_t>(key.size());
  r->buflen = static_cast<uint32_t>(path.size() + key.size());
  memcpy(r->buf, path.data(), path.size());
  memcpy(r->buf + path.size(), key.data(), key.size());
  return raw;
}

}  // namespace nw
