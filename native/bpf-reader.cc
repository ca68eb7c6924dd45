// The eBPF exec reader: loads build/bpf/exec.bpf.o (native/bpf/exec.bpf.c) through the
// system's libbpf (libbpf.so.1, opened at run time: the addon builds and loads on machines
// without it, and this reader then says what is missing), attaches it to the
// sched_process_exec tracepoint and drains its ring buffer on this thread. Each record already
// holds everything the audit reader gathers from /proc, read in the kernel at the exec, so this
// thread reads no file per exec: it turns records into ExecRecords and hands them to the pump.
//
// Wake-ups: the kernel wakes a waiting reader only when the ring goes from empty to not empty.
// After each drain the thread stays off the ring for kRestNs, so under load it wakes about
// 1/kRestNs times a second whatever the exec rate, and an exec waits at most that long (the
// pump batches for 50 ms anyway). Idle, it sleeps until the next exec.
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

#include "reader.h"

namespace nw {

namespace {

// libbpf 1.x's ABI, as far as we call it (libbpf.h, bpf.h). Opaque handles only.
struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct ring_buffer;
typedef int (*ring_buffer_sample_fn)(void* ctx, void* data, size_t size);
typedef int (*libbpf_print_fn_t)(int level, const char*, va_list ap);

struct Libbpf {
  void* handle = nullptr;
  bpf_object* (*object_open_file)(const char* path, const void* opts);
  int (*object_load)(bpf_object* obj);
  void (*object_close)(bpf_object* obj);
  bpf_program* (*find_program_by_name)(const bpf_object* obj, const char* name);
  bpf_map* (*find_map_by_name)(const bpf_object* obj, const char* name);
  int (*map_fd)(const bpf_map* map);
  int (*map_set_max_entries)(bpf_map* map, uint32_t max_entries);
  bpf_link* (*program_attach)(const bpf_program* prog);
  int (*link_destroy)(bpf_link* link);
  ring_buffer* (*ring_buffer_new)(int map_fd, ring_buffer_sample_fn cb, void* ctx, const void* opts);
  int (*ring_buffer_consume)(ring_buffer* rb);
  int (*ring_buffer_epoll_fd)(const ring_buffer* rb);
  void (*ring_buffer_free)(ring_buffer* rb);
  int (*map_lookup_elem)(int fd, const void* key, void* value);
  int (*num_possible_cpus)(void);
  libbpf_print_fn_t (*set_print)(libbpf_print_fn_t fn);
};

template <typename T>
bool Sym(void* h, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(h, name));
  return *out != nullptr;
}

// Loaded once per process; an error says which library or symbol is missing.
const Libbpf* LoadLibbpf(std::string* what) {
  static Libbpf lib;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      error = std::string("cannot load libbpf.so.1 (install libbpf1): ") + (e ? e : "unknown error");
      return;
    }
    bool ok = Sym(h, "bpf_object__open_file", &lib.object_open_file) && Sym(h, "bpf_object__load", &lib.object_load) &&
              Sym(h, "bpf_object__close", &lib.object_close) &&
              Sym(h, "bpf_object__find_program_by_name", &lib.find_program_by_name) &&
              Sym(h, "bpf_object__find_map_by_name", &lib.find_map_by_name) && Sym(h, "bpf_map__fd", &lib.map_fd) &&
              Sym(h, "bpf_map__set_max_entries", &lib.map_set_max_entries) &&
              Sym(h, "bpf_program__attach", &lib.program_attach) && Sym(h, "bpf_link__destroy", &lib.link_destroy) &&
              Sym(h, "ring_buffer__new", &lib.ring_buffer_new) && Sym(h, "ring_buffer__consume", &lib.ring_buffer_consume) &&
              Sym(h, "ring_buffer__epoll_fd", &lib.ring_buffer_epoll_fd) && Sym(h, "ring_buffer__free", &lib.ring_buffer_free) &&
              Sym(h, "bpf_map_lookup_elem", &lib.map_lookup_elem) &&
              Sym(h, "libbpf_num_possible_cpus", &lib.num_possible_cpus) && Sym(h, "libbpf_set_print", &lib.set_print);
    if (!ok) {
      error = "libbpf.so.1 lacks a function this reader needs (libbpf older than 1.0?)";
      dlclose(h);
      return;
    }
    lib.handle = h;
  });
  if (!lib.handle) {
    *what = error;
    return nullptr;
  }
  return &lib;
}

// libbpf's messages while an object loads (a missing BTF, the verifier's log), kept so that a
// failure can say why: the last kLogTail bytes, where the verifier names what it refused.
// Loads are rare and serialised by this lock.
constexpr size_t kLogTail = 3072;
std::mutex g_log_lock;
std::string* g_log = nullptr;
int CollectLog(int level, const char* fmt, va_list ap) {
  if (!g_log || level > 1) return 0;  // warnings and info; debug (2) is every libbpf step
  // One message may be the verifier's whole log (megabytes): only its end is kept.
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(nullptr, 0, fmt, ap);
  if (n > 0) {
    std::string text(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(text.data(), text.size(), fmt, again);
    size_t len = static_cast<size_t>(n);
    size_t from = len > 2 * kLogTail ? len - 2 * kLogTail : 0;
    g_log->append(text.data() + from, len - from);
  }
  va_end(again);
  if (g_log->size() > 2 * kLogTail) g_log->erase(0, g_log->size() - kLogTail);
  return 0;
}

// The record the program writes (struct exec_head in native/bpf/exec.bpf.c).
enum : int { kExe, kCwd, kStdin, kStdout, kCgV1, kCgV2, kPaths, kComm = kPaths, kArgs, kStrs };
constexpr uint8_t kPfSet = 1, kPfTruncated = 2, kPfDeleted = 4, kPfPseudo = 8;
constexpr uint16_t kFCtime = 1, kFArgvTruncated = 2, kFArgvMissing = 4, kFNsKnown = 8, kFNsInit = 16, kFLoginuid = 32;
struct ExecHead {
  uint64_t boot_ns;
  uint64_t start_boot_ns;
  int64_t ctime_sec;
  uint32_t ctime_nsec;
  int32_t pid;
  int32_t ppid;
  uint32_t uid, euid, gid, egid, auid;
  uint32_t cg_v1_hierarchy;
  uint16_t flags;
  uint16_t len[kStrs];
  uint8_t pflags[kPaths];
  uint8_t pad[2];
  uint64_t magic[2];
  uint64_t ino[2];
};
static_assert(sizeof(ExecHead) == 120, "ExecHead must match struct exec_head");

constexpr uint64_t kSockfsMagic = 0x534F434B, kPipefsMagic = 0x50495045, kAnonInodeMagic = 0x09041934;
constexpr uint64_t kRestNs = 20ull * 1000 * 1000;

uint64_t ClockNs(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class BpfReader final : public Reader {
 public:
  int Open(const ReaderOptions& opts, std::string* what) override {
    const Libbpf* lib = LoadLibbpf(what);
    if (!lib) return -ENOENT;
    lib_ = lib;
    std::string log;
    {
      std::lock_guard<std::mutex> lock(g_log_lock);
      g_log = &log;
      libbpf_print_fn_t before = lib_->set_print(&CollectLog);
      // The verifier gives up with EAGAIN when a signal is pending for the loading thread, and
      // libbpf retries only a few times: a profiler's SIGPROF every millisecond (node
      // --cpu-prof) made every load fail. Signals wait until the load is done; a signal sent to
      // the process meanwhile goes to another thread.
      sigset_t all;
      sigset_t old_mask;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, &old_mask);
      int r = Load(opts.bpf_object, opts.bpf_ring_bytes, what);
      pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
      lib_->set_print(before);
      g_log = nullptr;
      if (r < 0) {
        while (!log.empty() && (log.back() == '\n' || log.back() == ' ')) log.pop_back();
        if (log.size() > kLogTail) log.erase(0, log.size() - kLogTail);
        if (!log.empty()) *what += " (libbpf: " + log + ")";
        Close();
        return r;
      }
    }
    proc_fd_ = open(opts.proc_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    long tck = sysconf(_SC_CLK_TCK);
    ns_per_tick_ = tck > 0 ? 1000000000ull / static_cast<uint64_t>(tck) : 10000000ull;
    return 0;
  }

  void Run(int wake_fd) override {
    pollfd fds[2] = {{lib_->ring_buffer_epoll_fd(rb_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    uint64_t next_due = 0;
    bool resting = false;
    for (;;) {
      uint64_t now = MonotonicNs();
      int timeout = -1;
      uint64_t until = next_due;
      if (resting) until = until && until < rest_until_ ? until : rest_until_;
      if (until) timeout = until > now ? static_cast<int>((until - now + 999999) / 1000000) : 0;
      // While resting only the wake-up fd is watched: execs pile up in the ring meanwhile.
      int pr = poll(resting ? &fds[1] : fds, resting ? 1 : 2, timeout);
      if (pr < 0 && errno != EINTR) {
        pump.NoteError(std::string("poll failed: ") + strerror(errno));
        break;
      }
      if (pr > 0 && fds[1].revents) break;
      now = MonotonicNs();
      if (resting && now >= rest_until_) resting = false;
      if (!resting) {
        // Boot clock to wall clock, once per drain.
        boot_to_real_ = static_cast<int64_t>(ClockNs(CLOCK_REALTIME)) - static_cast<int64_t>(ClockNs(CLOCK_BOOTTIME));
        now_ = now;
        int n = lib_->ring_buffer_consume(rb_);
        if (n < 0) {
          pump.NoteError(std::string("reading the eBPF ring buffer failed: ") + strerror(-n));
          break;
        }
        CheckLost();
        if (n > 0) {
          resting = true;
          rest_until_ = now + kRestNs;
        }
      }
      next_due = pump.MaybeFlush(MonotonicNs());
    }
    // What is still in the ring is handed on too.
    now_ = MonotonicNs();
    lib_->ring_buffer_consume(rb_);
    CheckLost();
    pump.stats()->thread_cpu_ns.store(ThreadCpuNs(), std::memory_order_relaxed);
    pump.Flush();
  }

  void Close() override {
    if (!lib_) return;
    if (rb_) lib_->ring_buffer_free(rb_);
    rb_ = nullptr;
    if (link_) lib_->link_destroy(link_);
    link_ = nullptr;
    if (obj_) lib_->object_close(obj_);
    obj_ = nullptr;
    if (proc_fd_ >= 0) close(proc_fd_);
    proc_fd_ = -1;
    if (lost_fd_ >= 0) close(lost_fd_);
    if (events_fd_ >= 0) close(events_fd_);
    lost_fd_ = events_fd_ = -1;
  }

  ~BpfReader() override { Close(); }

  const char* kind() const override { return "eBPF"; }
  int batch_msgs() const override { return 1; }
  size_t msg_bytes() const override { return 0; }
  void OnDatagram(const void*, size_t, uint64_t) override {}

 private:
  int Load(const std::string& path, uint32_t ring_bytes, std::string* what) {
    errno = 0;
    obj_ = lib_->object_open_file(path.c_str(), nullptr);
    if (!obj_) {
      int e = errno ? errno : ENOENT;
      *what = "cannot open the eBPF object " + path + " (built by `npm run build` where clang is installed)";
      return -e;
    }
    bpf_map* scratch = lib_->find_map_by_name(obj_, "nw_scratch");
    bpf_map* events = lib_->find_map_by_name(obj_, "nw_events");
    bpf_map* lost = lib_->find_map_by_name(obj_, "nw_lost");
    bpf_program* prog = lib_->find_program_by_name(obj_, "nw_exec");
    if (!scratch || !events || !lost || !prog) {
      *what = "the eBPF object " + path + " lacks the program or maps this reader expects (built from another version?)";
      return -EINVAL;
    }
    int cpus = lib_->num_possible_cpus();
    if (cpus <= 0) {
      *what = "cannot count the possible CPUs";
      return cpus < 0 ? cpus : -EINVAL;
    }
    lib_->map_set_max_entries(scratch, static_cast<uint32_t>(cpus));
    // The ring's size in bytes: a power of two and a whole number of pages, else the kernel
    // refuses the map (EINVAL, with this sentence).
    long page = sysconf(_SC_PAGESIZE);
    if (ring_bytes == 0 || (ring_bytes & (ring_bytes - 1)) != 0 || (page > 0 && ring_bytes % static_cast<uint32_t>(page) != 0)) {
      *what = "the eBPF ring buffer size must be a power of two and a multiple of the page size";
      return -EINVAL;
    }
    lib_->map_set_max_entries(events, ring_bytes);
    int r = lib_->object_load(obj_);
    if (r < 0) {
      *what = r == -EAGAIN
        ? "the kernel gave up verifying the eBPF exec program (EAGAIN: interrupted, or out of memory)"
        : "the kernel refused the eBPF exec program (needs root: CAP_BPF and CAP_PERFMON or CAP_SYS_ADMIN; a kernel of 5.8 or later with BTF)";
      return r;
    }
    errno = 0;
    link_ = lib_->program_attach(prog);
    if (!link_) {
      *what = "cannot attach the eBPF exec program to the sched_process_exec tracepoint";
      return -(errno ? errno : EINVAL);
    }
    // The maps outlive the object through descriptors of our own, and the program through its
    // link, so the object (the ELF file, its BTF, libbpf's bookkeeping) is freed at once and the
    // heap offered back to the system. (The larger cost, libbpf's copies of the kernel's BTF,
    // ~11 MB, lives only while the object loads.)
    lost_fd_ = fcntl(lib_->map_fd(lost), F_DUPFD_CLOEXEC, 0);
    events_fd_ = fcntl(lib_->map_fd(events), F_DUPFD_CLOEXEC, 0);
    if (lost_fd_ < 0 || events_fd_ < 0) {
      *what = "cannot keep the eBPF maps' descriptors";
      return -errno;
    }
    lib_->object_close(obj_);
    obj_ = nullptr;
    malloc_trim(0);
    errno = 0;
    rb_ = lib_->ring_buffer_new(events_fd_, &BpfReader::OnSample, this, nullptr);
    if (!rb_) {
      *what = "cannot map the eBPF ring buffer";
      return -(errno ? errno : EINVAL);
    }
    return 0;
  }

  void CheckLost() {
    uint32_t key = 0;
    uint64_t total = 0;
    if (lost_fd_ < 0 || lib_->map_lookup_elem(lost_fd_, &key, &total) != 0) return;
    if (total > lost_seen_) pump.NoteSocketLoss(total - lost_seen_);
    lost_seen_ = total;
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    static_cast<BpfReader*>(ctx)->OnRecord(static_cast<const char*>(data), size);
    return 0;
  }

  // Components leaf first, NUL-terminated, as the program wrote them: to a path, root first.
  static void AppendPath(std::string& out, const char* p, size_t n) {
    size_t end = n;
    bool any = false;
    while (end > 0) {
      // The component ending at end-1 (its NUL) starts after the previous NUL.
      size_t stop = end - 1;
      size_t begin = stop;
      while (begin > 0 && p[begin - 1] != '\0') begin--;
      out.push_back('/');
      out.append(p + begin, stop - begin);
      any = true;
      end = begin;
    }
    if (!any) out.push_back('/');
  }

  // A path as /proc's links show it; false when the program read none.
  bool PathText(int which, const ExecHead& h, const char* p, std::string& out) {
    uint8_t pf = h.pflags[which];
    if (!(pf & kPfSet)) return false;
    size_t n = h.len[which];
    out.clear();
    if (pf & kPfTruncated) {
      // Deeper than the program walks (or longer than its budget): the top is missing, and a
      // path that merely ends like /usr/bin/ls must not pass for it. /proc has the whole link
      // while the process lives; otherwise the path says it was cut.
      const char* link = which == kExe ? "exe" : which == kCwd ? "cwd" : which == kStdin ? "fd/0" : "fd/1";
      char at[64];
      snprintf(at, sizeof(at), "%d/%s", h.pid, link);
      char buf[4096];
      ssize_t got = proc_fd_ >= 0 ? readlinkat(proc_fd_, at, buf, sizeof(buf)) : -1;
      if (got > 0 && static_cast<size_t>(got) < sizeof(buf)) {
        out.assign(buf, static_cast<size_t>(got));
        return true;
      }
      out = "(cut)";
      AppendPath(out, p, n);
      return true;
    }
    if (pf & kPfPseudo) {
      // d_dname's forms: sockets, pipes and anonymous inodes by their file system; anything
      // else made by alloc_file_pseudo (memfd, a deleted shared-memory file) as simple_dname.
      std::string name(p, n > 0 ? strnlen(p, n) : 0);
      int slot = which == kStdin ? 0 : which == kStdout ? 1 : -1;
      uint64_t magic = slot >= 0 ? h.magic[slot] : 0;
      char buf[64];
      if (magic == kSockfsMagic) {
        snprintf(buf, sizeof(buf), "socket:[%llu]", static_cast<unsigned long long>(h.ino[slot]));
        out = buf;
      } else if (magic == kPipefsMagic) {
        snprintf(buf, sizeof(buf), "pipe:[%llu]", static_cast<unsigned long long>(h.ino[slot]));
        out = buf;
      } else if (magic == kAnonInodeMagic) {
        out = "anon_inode:" + name;
      } else {
        out = "/" + name + " (deleted)";
      }
      return true;
    }
    AppendPath(out, p, n);
    if (pf & kPfDeleted) out += " (deleted)";
    return true;
  }

  void OnRecord(const char* data, size_t size) {
    if (size < sizeof(ExecHead)) return;
    ExecHead h;
    memcpy(&h, data, sizeof(h));
    const char* p = data + sizeof(ExecHead);
    size_t avail = size - sizeof(ExecHead);
    size_t offs[kStrs];
    size_t at = 0;
    for (int i = 0; i < kStrs; i++) {
      offs[i] = at;
      at += h.len[i];
    }
    if (at > avail) return;  // a record that does not hold what it announces: not ours to guess

    builder_.Reset(Source::Bpf);
    ExecRecord& rec = builder_.rec;
    rec.time_ns = static_cast<uint64_t>(static_cast<int64_t>(h.boot_ns) + boot_to_real_);
    rec.pid = h.pid;
    rec.ppid = h.ppid;
    rec.uid = h.uid;
    rec.euid = h.euid;
    rec.gid = h.gid;
    rec.egid = h.egid;
    rec.auid = (h.flags & kFLoginuid) ? h.auid : kUnknownId;
    rec.start_time = h.start_boot_ns / ns_per_tick_;
    rec.has_start_time = true;
    if (h.flags & kFCtime) {
      rec.has_exe_ctime = true;
      rec.exe_ctime_ns = static_cast<uint64_t>(h.ctime_sec) * 1000000000ull + h.ctime_nsec;
    }
    rec.ns_init = (h.flags & kFNsKnown) ? ((h.flags & kFNsInit) ? 1 : 0) : -1;
    rec.argv_missing = (h.flags & kFArgvMissing) != 0;
    std::string& t = text_;
    if (PathText(kExe, h, p + offs[kExe], t)) rec.exe = rec.Put(t.data(), t.size());
    rec.comm = rec.Put(p + offs[kComm], strnlen(p + offs[kComm], h.len[kComm]));
    if (PathText(kCwd, h, p + offs[kCwd], t)) rec.cwd = rec.Put(t.data(), t.size());
    std::string in, out;
    bool have_in = PathText(kStdin, h, p + offs[kStdin], in);
    bool have_out = PathText(kStdout, h, p + offs[kStdout], out);
    if (have_in || have_out) {
      rec.stdin_link = rec.Put(in.data(), in.size());
      rec.stdout_link = rec.Put(out.data(), out.size());
    }
    // The cgroup as /proc/PID/cgroup would list the two hierarchies read.
    t.clear();
    if (h.pflags[kCgV1] & kPfSet) {
      char head[32];
      snprintf(head, sizeof(head), "%u:memory:", h.cg_v1_hierarchy);
      t += head;
      AppendPath(t, p + offs[kCgV1], h.len[kCgV1]);
      t.push_back('\n');
    }
    if (h.pflags[kCgV2] & kPfSet) {
      t += "0::";
      AppendPath(t, p + offs[kCgV2], h.len[kCgV2]);
      t.push_back('\n');
    }
    if (!t.empty()) rec.cgroup = rec.Put(t.data(), t.size());
    // argv: the NUL-separated block, within the agent's bounds.
    const char* a = p + offs[kArgs];
    size_t alen = h.len[kArgs];
    if (h.flags & kFArgvTruncated) rec.argv_truncated = true;
    size_t i = 0;
    while (i < alen) {
      size_t e = i;
      while (e < alen && a[e] != '\0') e++;
      if (!builder_.BeginArg(static_cast<int32_t>(rec.argc))) break;
      builder_.AppendArg(a + i, e - i);
      i = e + 1;
    }
    builder_.Seal();
    pump.Push(rec, now_);
  }

  const Libbpf* lib_ = nullptr;
  bpf_object* obj_ = nullptr;
  bpf_link* link_ = nullptr;
  ring_buffer* rb_ = nullptr;
  int lost_fd_ = -1;
  int events_fd_ = -1;
  int proc_fd_ = -1;  // the proc root, for a path too deep for the program
  uint64_t lost_seen_ = 0;
  uint64_t ns_per_tick_ = 10000000ull;
  int64_t boot_to_real_ = 0;
  uint64_t now_ = 0;
  uint64_t rest_until_ = 0;
  ExecBuilder builder_;
  std::string text_;
};

}  // namespace

std::unique_ptr<Reader> NewBpfReader() { return std::unique_ptr<Reader>(new BpfReader()); }

}  // namespace nw
