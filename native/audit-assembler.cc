// Record-to-exec assembly for the audit source (see audit-assembler.h).
#include "audit-assembler.h"

#include <linux/audit.h>

namespace nw {

namespace {

// Syscall numbers that are an exec, per audit arch (x86-64, i386, aarch64, arm).
bool IsExecSyscall(uint64_t arch, uint64_t nr) {
  switch (arch) {
    case 0xc000003eull: return nr == 59 || nr == 322;
    case 0x40000003ull: return nr == 11 || nr == 358;
    case 0xc00000b7ull: return nr == 221 || nr == 281;
    case 0x40000028ull: return nr == 11 || nr == 387;
    default: return false;
  }
}

Span PutDecoded(ExecRecord& rec, std::string_view v) {
  Span s;
  s.off = static_cast<uint32_t>(rec.strs.size());
  std::string_view inner;
  if (ClassifyValue(v, &inner) == ValueKind::Null) return s;
  DecodeValue(v, [&](const char* p, size_t n) { rec.strs.append(p, n); });
  s.len = static_cast<uint32_t>(rec.strs.size() - s.off);
  s.set = true;
  return s;
}

uint32_t ParseId(std::string_view v) {
  int64_t n = ParseSigned(v, -1);
  return n < 0 ? kUnknownId : static_cast<uint32_t>(n);
}

}  // namespace

AuditAssembler::Group* AuditAssembler::Find(uint64_t serial) {
  if (used_ == 0) return nullptr;
  for (Group& g : slots_) {
    if (g.used && g.serial == serial) return &g;
  }
  return nullptr;
}

AuditAssembler::Group* AuditAssembler::Allocate(uint64_t serial, uint64_t now) {
  Group* oldest = nullptr;
  for (Group& g : slots_) {
    if (!g.used) {
      g.used = true;
      g.serial = serial;
      g.started_ns = now;
      g.b.Reset(Source::Audit);
      used_++;
      return &g;
    }
    if (!oldest || g.started_ns < oldest->started_ns) oldest = &g;
  }
  // All slots busy (a flood of groups whose EOE is late): finish the oldest as it stands.
  Finish(oldest);
  oldest->used = true;
  oldest->serial = serial;
  oldest->started_ns = now;
  oldest->b.Reset(Source::Audit);
  used_++;
  return oldest;
}

int AuditAssembler::KeyKind(std::string_view v) const {
  char buf[512];
  size_t n = 0;
  DecodeValue(v, [&](const char* p, size_t len) {
    for (size_t i = 0; i < len && n < sizeof(buf); i++) buf[n++] = p[i];
  });
  // Several keys on one rule are joined with \x01 (auditctl -k a -k b).
  std::string_view all(buf, n);
  while (!all.empty()) {
    size_t cut = all.find('\x01');
    std::string_view one = all.substr(0, cut);
    if (one == key_) return 1;
    if (one.size() > watch_prefix_.size() && one.substr(0, watch_prefix_.size()) == watch_prefix_) return 2;
    if (cut == std::string_view::npos) break;
    all.remove_prefix(cut + 1);
  }
  return 0;
}

bool AuditAssembler::OnSyscall(const AuditHeader& h, Group* g) {
  ExecRecord& rec = g->b.rec;
  rec.time_ns = h.time_ns;
  rec.serial = h.serial;
  rec.has_serial = true;
  uint64_t arch = 0, nr = UINT64_MAX;
  int64_t exit = 0;
  int kind = 0;
  FieldIter it(h.body);
  std::string_view k, v;
  while (it.Next(&k, &v)) {
    if (k == "arch") arch = ParseUnsigned(v, 16, 0);
    else if (k == "syscall") nr = ParseUnsigned(v, 10, UINT64_MAX);
    else if (k == "success") rec.success = v == "yes";
    else if (k == "exit") exit = ParseSigned(v, 0);
    else if (k == "ppid") rec.ppid = static_cast<int32_t>(ParseSigned(v, 0));
    else if (k == "pid") rec.pid = static_cast<int32_t>(ParseSigned(v, 0));
    else if (k == "auid") rec.auid = ParseId(v);
    else if (k == "uid") rec.uid = ParseId(v);
    else if (k == "gid") rec.gid = ParseId(v);
    else if (k == "euid") rec.euid = ParseId(v);
    else if (k == "egid") rec.egid = ParseId(v);
    else if (k == "comm") rec.comm = PutDecoded(rec, v);
    else if (k == "exe") rec.exe = PutDecoded(rec, v);
    else if (k == "key") {
      kind = KeyKind(v);
      rec.key = PutDecoded(rec, v);
    }
  }
  if (kind == 2) {
    // One of our file watches: who changed the file. (An exec of a watched file is an exec.)
    g->watch = !IsExecSyscall(arch, nr);
    g->arch = arch;
    g->syscall = nr;
    g->exit = exit;
    g->paths.clear();
  }
  // Any exec is wanted, whatever rule matched first: a rule of someone else's listed before
  // ours puts its key on the record instead of ours (audit keeps the first match only).
  if (!g->watch && kind != 1 && !IsExecSyscall(arch, nr)) return false;
  // The reason this runs natively and right now: the process may be gone in a millisecond.
  if (rec.pid > 0) proc_->AddContext(rec.pid, rec);
  return true;
}

void AuditAssembler::OnExecve(const AuditHeader& h, ExecBuilder& b) {
  FieldIter it(h.body);
  std::string_view k, v;
  while (it.Next(&k, &v)) {
    if (k == "argc") {
      b.announced_argc = static_cast<int32_t>(ParseSigned(v, -1));
      continue;
    }
    // aN=VALUE, aN_len=LEN (ignored), aN[C]=CHUNK for arguments split across records.
    if (k.size() < 2 || k[0] != 'a' || k[1] < '0' || k[1] > '9') continue;
    size_t i = 1;
    int64_t index = 0;
    while (i < k.size() && k[i] >= '0' && k[i] <= '9') index = index * 10 + (k[i++] - '0');
    auto append = [&](const char* p, size_t n) { b.AppendArg(p, n); };
    if (i == k.size()) {
      if (b.BeginArg(static_cast<int32_t>(index))) DecodeValue(v, append);
    } else if (k[i] == '[') {
      int64_t chunk = ParseSigned(k.substr(i + 1, k.size() - i - 2), -1);
      if (chunk == 0) {
        if (!b.BeginArg(static_cast<int32_t>(index))) continue;
      } else if (b.last_arg_index != index) {
        continue;  // its start was refused by the bounds, or never arrived
      }
      DecodeValue(v, append);
    }
  }
}

void AuditAssembler::OnRecord(uint16_t type, std::string_view text, uint64_t now) {
  records_++;
  AuditHeader h;
  if (!ParseAuditHeader(text, &h)) return;
  switch (type) {
    case AUDIT_CONFIG_CHANGE:
      sink_->ConfigChange(h.time_ns, h.body);
      return;
    case AUDIT_SYSCALL: {
      if (Find(h.serial)) return;  // a repeated serial: keep the first
      Group* g = Allocate(h.serial, now);
      g->watch = false;
      if (!OnSyscall(h, g)) {
        g->used = false;
        used_--;
      }
      return;
    }
    case AUDIT_EXECVE:
    case AUDIT_CWD:
    case AUDIT_PATH:
    case AUDIT_PROCTITLE:
    case AUDIT_EOE:
      break;
    default:
      return;
  }
  Group* g = Find(h.serial);
  if (!g) return;  // not an exec we keep
  ExecBuilder& b = g->b;
  if (type == AUDIT_EOE) {
    Finish(g);
    return;
  }
  if (type == AUDIT_EXECVE) {
    OnExecve(h, b);
    return;
  }
  if (type == AUDIT_PATH) {
    if (!g->watch || g->paths.size() >= kMaxPaths) return;
    FieldIter pit(h.body);
    std::string_view pk, pv;
    while (pit.Next(&pk, &pv)) {
      if (pk != "name") continue;
      std::string name;
      DecodeValue(pv, [&](const char* p, size_t n) { if (name.size() + n <= 4096) name.append(p, n); });
      g->paths.push_back(std::move(name));
    }
    return;
  }
  FieldIter it(h.body);
  std::string_view k, v;
  while (it.Next(&k, &v)) {
    if (type == AUDIT_CWD && k == "cwd") b.rec.cwd = PutDecoded(b.rec, v);
    else if (type == AUDIT_PROCTITLE && k == "proctitle") b.proctitle = PutDecoded(b.rec, v);
  }
}

void AuditAssembler::Finish(Group* g) {
  ExecBuilder& b = g->b;
  ExecRecord& rec = b.rec;
  if (g->watch) {
    FileChangeNote note;
    note.arch = g->arch;
    note.syscall = g->syscall;
    note.exit = g->exit;
    note.rec = std::move(rec);
    note.paths = std::move(g->paths);
    g->paths.clear();
    g->watch = false;
    sink_->FileChange(note);
    g->used = false;
    used_--;
    return;
  }
  if (rec.argc == 0 && b.announced_argc != 0) {
    if (b.proctitle.set && b.proctitle.len > 0) {
      // No EXECVE record reached us: the proctitle holds argv joined by NULs, cut at 128
      // bytes by the kernel.
      std::string title(rec.strs, b.proctitle.off, b.proctitle.len);
      size_t start = 0;
      for (size_t i = 0; i <= title.size(); i++) {
        if (i == title.size() || title[i] == '\0') {
          if (i == start && i == title.size()) break;
          if (!b.BeginArg(static_cast<int32_t>(rec.argc))) break;
          b.AppendArg(title.data() + start, i - start);
          start = i + 1;
        }
      }
      if (title.size() >= 128 || b.announced_argc > static_cast<int32_t>(rec.argc)) {
        rec.argv_truncated = true;
      }
    } else {
      rec.argv_missing = true;
    }
  } else if (b.announced_argc > static_cast<int32_t>(rec.argc)) {
    rec.argv_truncated = true;
  }
  b.Seal();
  sink_->Emit(rec);
  g->used = false;
  used_--;
}

uint64_t AuditAssembler::Expire(uint64_t now) {
  if (used_ == 0) return 0;
  uint64_t next = 0;
  for (Group& g : slots_) {
    if (!g.used) continue;
    uint64_t due = g.started_ns + kGroupTimeoutNs;
    if (due <= now) {
      Finish(&g);
    } else if (next == 0 || due < next) {
      next = due;
    }
  }
  return next;
}

void AuditAssembler::FlushAll() {
  for (Group& g : slots_) {
    if (g.used) Finish(&g);
  }
}

}  // namespace nw
