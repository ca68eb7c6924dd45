// /proc reads for a just-reported exec. Plain open/read/close with fixed buffers: no stdio,
// no allocation beyond appending to the record's arena.
#include "proc-snapshot.h"

#include "event-pump.h"  // MonotonicNs

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nw {

namespace {
constexpr size_t kCgroupCap = 8 * 1024;
constexpr unsigned long kPfExiting = 0x00000004;  // task flags (stat field 9): in do_exit

uint32_t ParseU32(const char* p, const char** end) {
  unsigned long v = strtoul(p, const_cast<char**>(end), 10);
  return static_cast<uint32_t>(v);
}
}  // namespace

ProcSnapshot::ProcSnapshot(std::string proc_root) : root_(std::move(proc_root)) {
  // A trailing slash would only double up in the paths built below.
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_.size() > 256) root_.resize(256);
  // /proc itself is opened once; each file is then "PID/name" relative to it: one openat per
  // file and no descriptor of /proc/PID to open and close per exec (two syscalls, each several
  // microseconds on a virtual machine). A /proc missing here leaves every exec without context.
  proc_fd_ = open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

ProcSnapshot::~ProcSnapshot() {
  if (proc_fd_ >= 0) close(proc_fd_);
}

bool ProcSnapshot::OpenPid(int32_t pid) {
  // Every path below names the pid again rather than a handle of /proc/PID. Were the pid reused
  // between two reads, they would describe different processes; but pids are handed out in
  // turn up to pid_max (32768 at the least), so reuse within the few microseconds of one exec's
  // reads would take tens of thousands of forks in between.
  int n = snprintf(path_, sizeof(path_), "%d/", pid);
  prefix_len_ = n > 0 ? static_cast<size_t>(n) : 0;
  gone_ = false;
  return proc_fd_ >= 0 && n > 0;
}

const char* ProcSnapshot::At(const char* name) {
  size_t room = sizeof(path_) - prefix_len_;
  size_t len = strlen(name);
  if (len >= room) len = room - 1;
  memcpy(path_ + prefix_len_, name, len);
  path_[prefix_len_ + len] = '\0';
  return path_;
}

ssize_t ProcSnapshot::Read(int32_t, const char* name, size_t cap) {
  if (proc_fd_ < 0) return -1;
  int fd = openat(proc_fd_, At(name), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    // The process has gone (or never was): no other file of it will open either.
    if (errno == ENOENT || errno == ESRCH) gone_ = true;
    return -1;
  }
  if (cap > sizeof(scratch_)) cap = sizeof(scratch_);
  size_t got = 0;
  while (got < cap) {
    ssize_t n = read(fd, scratch_ + got, cap - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ESRCH on cmdline of a process that exited between open and read.
      close(fd);
      return got > 0 ? static_cast<ssize_t>(got) : -1;
    }
    got += static_cast<size_t>(n);
    // procfs fills the buffer as far as it can: a short read is the end (saves a read).
    if (n == 0 || static_cast<size_t>(n) < cap - (got - n)) break;
  }
  close(fd);
  return static_cast<ssize_t>(got);
}

bool ProcSnapshot::Link(int32_t, const char* name, Span& out, ExecRecord& rec) {
  if (proc_fd_ < 0) return false;
  ssize_t n = readlinkat(proc_fd_, At(name), scratch_, 4096);
  if (n < 0) return false;
  out = rec.Put(scratch_, static_cast<size_t>(n));
  return true;
}

void ProcSnapshot::ReadCgroup(int32_t pid, ExecRecord& rec) {
  ssize_t n = Read(pid, "cgroup", kCgroupCap);
  if (n >= 0) rec.cgroup = rec.Put(scratch_, static_cast<size_t>(n));
}

bool ProcSnapshot::ReadStat(int32_t pid, ExecRecord& rec, bool want_comm_ppid) {
  ssize_t n = Read(pid, "stat", 1024);
  if (n <= 0) return false;
  scratch_[n] = '\0';
  // comm may itself hold ')' or spaces: the fields resume after the LAST ')'.
  char* open_paren = strchr(scratch_, '(');
  char* close_paren = strrchr(scratch_, ')');
  if (!open_paren || !close_paren || close_paren < open_paren) return false;
  if (want_comm_ppid) {
    rec.comm = rec.Put(open_paren + 1, static_cast<size_t>(close_paren - open_paren - 1));
  }
  // Field 3 (state) starts two bytes after ')'; starttime is field 22.
  char* p = close_paren + 2;
  if (close_paren + 2 >= scratch_ + n) return false;
  last_state_ = *p;
  last_exiting_ = false;
  int field = 3;
  while (*p && field < 22) {
    if (field == 4 && want_comm_ppid) rec.ppid = static_cast<int32_t>(strtol(p, nullptr, 10));
    if (field == 9) last_exiting_ = (strtoul(p, nullptr, 10) & kPfExiting) != 0;
    char* sp = strchr(p, ' ');
    if (!sp) return false;
    p = sp + 1;
    field++;
  }
  if (field != 22) return false;
  rec.start_time = strtoull(p, nullptr, 10);
  rec.has_start_time = true;
  return true;
}

void ProcSnapshot::ReadStatus(int32_t pid, ExecRecord& rec) {
  ssize_t n = Read(pid, "status", 4096);
  if (n <= 0) return;
  scratch_[n] = '\0';
  // "Uid:\treal\teffective\tsaved\tfs" and the same for Gid.
  const char* u = strstr(scratch_, "\nUid:");
  if (u) {
    const char* p = u + 5;
    rec.uid = ParseU32(p, &p);
    rec.euid = ParseU32(p, &p);
  }
  const char* g = strstr(scratch_, "\nGid:");
  if (g) {
    const char* p = g + 5;
    rec.gid = ParseU32(p, &p);
    rec.egid = ParseU32(p, &p);
  }
}

bool ProcSnapshot::DropCgroupUnlessAlive(bool stat_ok, ExecRecord& rec) {
  // An exiting process (PF_EXITING, then zombie) may already report the root cgroup, which
  // would pin a container's exec on the host. cgroup is read before stat, so a stat showing
  // the process not yet exiting vouches for it.
  if (!stat_ok || last_exiting_ || last_state_ == 'Z' || last_state_ == 'X' || last_state_ == 'x') {
    rec.cgroup = Span();
    return false;
  }
  return true;
}

void ProcSnapshot::ReadExeAndNamespace(int32_t pid, ExecRecord& rec) {
  struct stat st;
  // The file the process runs, whatever its path says now: rules compare its ctime with the
  // container's start (a binary written after the start is not from the image).
  if (fstatat(proc_fd_, At("exe"), &st, 0) == 0) {
    rec.exe_ctime_ns = static_cast<uint64_t>(st.st_ctim.tv_sec) * 1000000000ull +
                       static_cast<uint64_t>(st.st_ctim.tv_nsec);
    rec.has_exe_ctime = true;
  }
  // Pid 1 of its pid namespace. A namespace's first process always has its parent outside
  // the namespace, so a process sharing its parent's namespace is not one: two links decide
  // for nearly every exec. Otherwise (the runtime entering a container, a parent gone, no
  // ptrace access to the namespace links) NSpid in status, which anyone may read, decides.
  // The links are read, not stat'ed: a stat makes the kernel build an nsfs inode and dentry
  // each time; "pid:[inode]" names the namespace as well.
  char own[64];
  ssize_t on = rec.ppid > 0 ? readlinkat(proc_fd_, At("ns/pid"), own, sizeof(own)) : -1;
  if (on > 0 && SameNamespaceAsParent(rec.ppid, own, static_cast<size_t>(on))) {
    rec.ns_init = 0;
    return;
  }
  ssize_t n = Read(pid, "status", sizeof(scratch_) - 1);
  if (n <= 0) return;
  scratch_[n] = '\0';
  const char* p = strstr(scratch_, "\nNSpid:");
  if (!p) return;
  p += 7;
  // "NSpid:\t<pid in the outermost namespace>\t...\t<pid in its own>"
  int levels = 0;
  unsigned long last = 0;
  while (*p && *p != '\n') {
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') break;
    char* end;
    last = strtoul(p, &end, 10);
    p = end;
    levels++;
  }
  if (levels > 0) rec.ns_init = levels > 1 && last == 1 ? 1 : 0;
}

bool ProcSnapshot::SameNamespaceAsParent(int32_t ppid, const char* own, size_t own_len) {
  // A remembered link can only ever answer "same namespace, so not its init" (a different link
  // is read again). It would answer wrongly only if the parent's pid had since passed to another
  // process AND the child were the init of a new namespace that got the number of the old
  // parent's namespace back: pid reuse and namespace-number reuse both take the old process's
  // death first, so an entry younger than a second cannot see that happen in practice.
  ParentNs& slot = parents_[static_cast<uint32_t>(ppid) % kParentSlots];
  uint64_t now = MonotonicNs();
  if (slot.pid == ppid && now - slot.read_ns < kParentTtlNs && slot.len == own_len &&
      memcmp(slot.link, own, own_len) == 0) {
    return true;
  }
  char parent[sizeof(slot.link)];
  char at[32];
  snprintf(at, sizeof(at), "%d/ns/pid", ppid);
  ssize_t pn = readlinkat(proc_fd_, at, parent, sizeof(parent));
  if (pn <= 0 || static_cast<size_t>(pn) >= sizeof(parent)) {
    slot.pid = 0;
    return false;
  }
  slot.pid = ppid;
  slot.len = static_cast<uint8_t>(pn);
  slot.read_ns = now;
  memcpy(slot.link, parent, static_cast<size_t>(pn));
  return static_cast<size_t>(pn) == own_len && memcmp(parent, own, own_len) == 0;
}

void ProcSnapshot::AddContext(int32_t pid, ExecRecord& rec) {
  if (!OpenPid(pid)) return;
  ReadCgroup(pid, rec);
  if (gone_) return;
  bool stat_ok = ReadStat(pid, rec, false);
  bool alive = DropCgroupUnlessAlive(stat_ok, rec);
  Link(pid, "fd/0", rec.stdin_link, rec);
  Link(pid, "fd/1", rec.stdout_link, rec);
  if (alive) ReadExeAndNamespace(pid, rec);
}

bool ProcSnapshot::ReadAll(int32_t pid, ExecBuilder& b) {
  ExecRecord& rec = b.rec;
  rec.pid = pid;
  if (!OpenPid(pid)) {
    rec.argv_missing = true;
    return false;
  }
  // cmdline first: it is what vanishes with the process and what matters most.
  ssize_t n = Read(pid, "cmdline", sizeof(scratch_));
  if (gone_) {
    rec.argv_missing = true;
    return false;
  }
  bool have_cmdline = n > 0;
  if (have_cmdline) {
    if (static_cast<size_t>(n) == sizeof(scratch_)) rec.argv_truncated = true;
    size_t start = 0;
    int32_t index = 0;
    // Arguments are NUL-terminated; a final one without NUL (setproctitle) still counts.
    for (size_t i = 0; i <= static_cast<size_t>(n); i++) {
      if (i == static_cast<size_t>(n) || scratch_[i] == '\0') {
        if (i == static_cast<size_t>(n) && i == start) break;
        if (!b.BeginArg(index++)) break;
        b.AppendArg(scratch_ + start, i - start);
        start = i + 1;
      }
    }
  }
  ReadCgroup(pid, rec);
  bool alive = ReadStat(pid, rec, true);
  bool running = DropCgroupUnlessAlive(alive, rec);
  ReadStatus(pid, rec);
  ssize_t l = Read(pid, "loginuid", 32);
  if (l > 0) {
    scratch_[l] = '\0';
    rec.auid = static_cast<uint32_t>(strtoul(scratch_, nullptr, 10));
  }
  Link(pid, "exe", rec.exe, rec);
  Link(pid, "cwd", rec.cwd, rec);
  Link(pid, "fd/0", rec.stdin_link, rec);
  Link(pid, "fd/1", rec.stdout_link, rec);
  if (running) ReadExeAndNamespace(pid, rec);
  if (!have_cmdline) rec.argv_missing = true;
  return alive && have_cmdline;
}

}  // namespace nw
