// The nodewarden_native addon: audit control calls (status, rules) made synchronously, and
// the Reader class, which runs an audit or process-connector reader on its own thread and
// calls back with batches of exec events. Exceptions are off: errors are thrown as JS
// errors carrying the errno name in `code`.
#include <errno.h>
#include <linux/audit.h>
#include <napi.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "audit-assembler.h"
#include "audit-control.h"
#include "proc-snapshot.h"
#include "reader.h"

namespace nw {

namespace {

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// Runs op on a fresh control socket; throws and returns false on failure.
template <typename F>
bool WithControl(Napi::Env env, const char* what, F&& op) {
  int fd = OpenAuditSocket();
  if (fd < 0) {
    ErrnoError(env, std::string(what) + ": cannot open a NETLINK_AUDIT socket", -fd)
        .ThrowAsJavaScriptException();
    return false;
  }
  int r = op(fd);
  close(fd);
  if (r < 0) {
    ErrnoError(env, what, -r).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value JsAuditStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AuditStatusData s;
  if (!WithControl(env, "AUDIT_GET", [&](int fd) { return AuditGetStatus(fd, &s); })) {
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("enabled", s.enabled);
  o.Set("failure", s.failure);
  o.Set("pid", s.pid);
  o.Set("rateLimit", s.rate_limit);
  o.Set("backlogLimit", s.backlog_limit);
  o.Set("lost", s.lost);
  o.Set("backlog", s.backlog);
  o.Set("featureBitmap", s.feature_bitmap);
  o.Set("backlogWaitTime", s.backlog_wait_time);
  return o;
}

Napi::Value JsAuditSetEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t enabled = info[0].As<Napi::Number>().Uint32Value();
  WithControl(env, "AUDIT_SET enabled",
              [&](int fd) { return AuditSetStatus(fd, AUDIT_STATUS_ENABLED, enabled, 0); });
  return env.Undefined();
}

bool IsStringField(uint32_t f) {
  switch (f) {
    case AUDIT_SUBJ_USER: case AUDIT_SUBJ_ROLE: case AUDIT_SUBJ_TYPE: case AUDIT_SUBJ_SEN:
    case AUDIT_SUBJ_CLR: case AUDIT_OBJ_USER: case AUDIT_OBJ_ROLE: case AUDIT_OBJ_TYPE:
    case AUDIT_OBJ_LEV_LOW: case AUDIT_OBJ_LEV_HIGH: case AUDIT_WATCH: case AUDIT_DIR:
    case AUDIT_FILTERKEY: case AUDIT_EXE:
      return true;
    default:
      return false;
  }
}

Napi::Value DescribeRule(Napi::Env env, const std::string& raw) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("raw", Napi::Buffer<char>::Copy(env, raw.data(), raw.size()));
  if (raw.size() < sizeof(audit_rule_data)) return o;
  const audit_rule_data* r = reinterpret_cast<const audit_rule_data*>(raw.data());
  o.Set("list", r->flags & ~AUDIT_FILTER_PREPEND);
  o.Set("action", r->action);
  Napi::Array syscalls = Napi::Array::New(env);
  uint32_t ns = 0;
  // The last mask word holds syscall-class bits, not syscall numbers.
  for (uint32_t nr = 0; nr < 32 * (AUDIT_BITMASK_SIZE - 1); nr++) {
    if (r->mask[nr / 32] & (1u << (nr % 32))) syscalls.Set(ns++, nr);
  }
  o.Set("syscalls", syscalls);
  o.Set("allSyscalls", Napi::Boolean::New(env, ns == 32 * (AUDIT_BITMASK_SIZE - 1)));
  Napi::Array fields = Napi::Array::New(env);
  size_t buf_off = 0;
  size_t buf_len = raw.size() - sizeof(audit_rule_data);
  Napi::Value key = env.Null();
  Napi::Value arch = env.Null();
  for (uint32_t i = 0; i < r->field_count && i < AUDIT_MAX_FIELDS; i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("type", r->fields[i]);
    f.Set("op", r->fieldflags[i]);
    f.Set("value", r->values[i]);
    if (IsStringField(r->fields[i])) {
      size_t n = r->values[i];
      if (buf_off + n > buf_len) n = buf_len > buf_off ? buf_len - buf_off : 0;
      Napi::String s = Napi::String::New(env, r->buf + buf_off, n);
      buf_off += n;
      f.Set("str", s);
      if (r->fields[i] == AUDIT_FILTERKEY) key = s;
    }
    if (r->fields[i] == AUDIT_ARCH) arch = Napi::Number::New(env, r->values[i]);
    fields.Set(i, f);
  }
  o.Set("fields", fields);
  o.Set("key", key);
  o.Set("arch", arch);
  return o;
}

Napi::Value JsAuditListRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> rules;
  if (!WithControl(env, "AUDIT_LIST_RULES", [&](int fd) { return AuditListRules(fd, &rules); })) {
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, rules.size());
  for (size_t i = 0; i < rules.size(); i++) out.Set(static_cast<uint32_t>(i), DescribeRule(env, rules[i]));
  return out;
}

Napi::Value JsAuditAddExecRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool b64 = info[0].ToBoolean().Value();
  std::string key = info[1].ToString().Utf8Value();
  std::string rule = BuildExecRule(b64, key);
  if (rule.empty()) {
    Napi::Error::New(env, "no exec rule for this architecture or key length")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  WithControl(env, "AUDIT_ADD_RULE", [&](int fd) { return AuditAddRule(fd, rule); });
  return env.Undefined();
}

// auditAddWatchRule(path, key): "-w PATH -p wa -k KEY".
Napi::Value JsAuditAddWatchRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].ToString().Utf8Value();
  std::string key = info[1].ToString().Utf8Value();
  std::string rule = BuildWatchRule(path, key);
  if (rule.empty()) {
    Napi::Error::New(env, "no watch rule for this path and key (absolute path, no trailing '/', key of at most 256 bytes)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  WithControl(env, "AUDIT_ADD_RULE", [&](int fd) { return AuditAddRule(fd, rule); });
  return env.Undefined();
}

Napi::Value JsAuditDelRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) {
    Napi::TypeError::New(env, "auditDelRule takes the raw rule Buffer from auditListRules")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> b = info[0].As<Napi::Buffer<char>>();
  std::string rule(b.Data(), b.Length());
  WithControl(env, "AUDIT_DEL_RULE", [&](int fd) { return AuditDelRule(fd, rule); });
  return env.Undefined();
}

Napi::Value JsAuditExecRuleArch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ExecRuleArch(info[0].ToBoolean().Value()));
}

// assembleAuditRecords(records: {type, text}[], key, procRoot): the assembler run over
// given record texts, synchronously, then flushed as if every open group had timed out.
// The parser's edge cases (missing EOE, interleaved serials, split arguments) are tested
// through it with exactly the code the reader thread runs.
class CollectSink : public AssemblerSink {
 public:
  std::vector<ExecRecord> events;
  std::vector<FileChangeNote> files;
  void Emit(ExecRecord& rec) override { events.push_back(std::move(rec)); }
  void ConfigChange(uint64_t, std::string_view) override {}
  void FileChange(FileChangeNote& note) override { files.push_back(std::move(note)); }
};

Napi::Value JsAssembleAuditRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) {
    Napi::TypeError::New(env, "assembleAuditRecords(records, key, procRoot)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array records = info[0].As<Napi::Array>();
  std::string key = info[1].ToString().Utf8Value();
  std::string proc_root = info[2].IsString() ? info[2].ToString().Utf8Value() : "/proc";
  ProcSnapshot proc(proc_root);
  CollectSink sink;
  AuditAssembler assembler(key, &proc, &sink);
  uint64_t now = MonotonicNs();
  for (uint32_t i = 0; i < records.Length(); i++) {
    Napi::Object r = records.Get(i).As<Napi::Object>();
    uint16_t type = static_cast<uint16_t>(r.Get("type").ToNumber().Uint32Value());
    std::string text = r.Get("text").ToString().Utf8Value();
    assembler.OnRecord(type, text, now);
  }
  assembler.FlushAll();
  Napi::Value events(env, BatchToJs(env, sink.events, nullptr));
  // The file changes our watch rules' records made, beside the execs.
  Napi::Array files = Napi::Array::New(env, sink.files.size());
  for (size_t i = 0; i < sink.files.size(); i++) files.Set(static_cast<uint32_t>(i), FileChangeToJs(env, sink.files[i]));
  if (events.IsObject()) events.As<Napi::Object>().Set("fileChanges", files);
  return events;
}

// Shared by the Reader and its thread-safe function's finalizer, which may outlive it.
struct StopState {
  bool finalized = false;
  std::vector<napi_deferred> waiters;
  std::shared_ptr<StringCache> strings;  // the pump's, released with the function
};

class ReaderWrap : public Napi::ObjectWrap<ReaderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Reader",
                       {InstanceMethod<&ReaderWrap::Stop>("stop"),
                        InstanceMethod<&ReaderWrap::Stats>("stats")});
  }

  // new Reader(kind: 'audit' | 'connector', options, callback(events, info))
  explicit ReaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReaderWrap>(info) {
    Napi::Env env = info.Env();
    std::string kind = info[0].ToString().Utf8Value();
    if (!info[1].IsObject() || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "new Reader(kind, options, callback)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[1].As<Napi::Object>();
    ReaderOptions opts;
    if (o.Has("procRoot")) opts.proc_root = o.Get("procRoot").ToString().Utf8Value();
    if (o.Has("ruleKey")) opts.rule_key = o.Get("ruleKey").ToString().Utf8Value();
    if (o.Has("unicast")) opts.unicast = o.Get("unicast").ToBoolean().Value();
    if (o.Has("maxQueue")) opts.max_queue = o.Get("maxQueue").ToNumber().Uint32Value();
    if (o.Has("rcvbufBytes")) opts.rcvbuf_bytes = o.Get("rcvbufBytes").ToNumber().Int32Value();
    if (o.Get("bpfObject").IsString()) opts.bpf_object = o.Get("bpfObject").ToString().Utf8Value();
    if (o.Get("bpfRingBytes").IsNumber()) opts.bpf_ring_bytes = o.Get("bpfRingBytes").ToNumber().Uint32Value();
    if (kind == "audit") {
      reader_ = NewAuditReader();
      thread_name_ = "nw-audit";
    } else if (kind == "connector") {
      reader_ = NewConnectorReader();
      thread_name_ = "nw-connector";
    } else if (kind == "bpf") {
      reader_ = NewBpfReader();
      thread_name_ = "nw-bpf";
    } else {
      Napi::TypeError::New(env, "unknown reader kind " + kind).ThrowAsJavaScriptException();
      return;
    }
    std::string what;
    int r = reader_->Open(opts, &what);
    if (r < 0) {
      reader_.reset();
      ErrnoError(env, what, -r).ThrowAsJavaScriptException();
      return;
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      int e = errno;
      reader_->Close();
      reader_.reset();
      ErrnoError(env, "eventfd", e).ThrowAsJavaScriptException();
      return;
    }
    state_ = std::make_shared<StopState>();
    state_->strings = reader_->pump.strings();
    auto* fin = new std::shared_ptr<StopState>(state_);
    tsfn_ = Napi::ThreadSafeFunction::New(
        env, info[2].As<Napi::Function>(), "nodewarden-exec-reader", 0, 1,
        [](Napi::Env env, std::shared_ptr<StopState>* s) {
          (*s)->finalized = true;
          (*s)->strings->Release(env);
          // Raw calls: at environment teardown they may fail, which must not be fatal.
          for (napi_deferred d : (*s)->waiters) napi_resolve_deferred(env, d, env.Undefined());
          (*s)->waiters.clear();
          delete s;
        },
        fin);
    // A reader must not keep the process alive by itself: the agent's own servers do that.
    tsfn_.Unref(env);
    reader_->pump.Init(tsfn_, opts.max_queue);
    int pe = pthread_create(&thread_, nullptr, &ReaderWrap::ThreadMain, this);
    if (pe != 0) {
      reader_->Close();
      reader_.reset();
      tsfn_.Release();
      close(wake_fd_);
      wake_fd_ = -1;
      ErrnoError(env, "pthread_create", pe).ThrowAsJavaScriptException();
      return;
    }
    running_ = true;
    // Registered after the function so it runs before the function's own teardown.
    env_ = env;
    napi_add_env_cleanup_hook(env, &ReaderWrap::OnEnvCleanup, this);
  }

  ~ReaderWrap() override { Shutdown(); }

 private:
  // The wrap outlives its thread: Shutdown joins before anything is freed.
  static void* ThreadMain(void* arg) {
    ReaderWrap* self = static_cast<ReaderWrap*>(arg);
    // Named, so top/perf show which thread is ours.
    pthread_setname_np(pthread_self(), self->thread_name_);
    self->reader_->Run(self->wake_fd_);
    return nullptr;
  }

  static void OnEnvCleanup(void* arg) { static_cast<ReaderWrap*>(arg)->Shutdown(); }

  // Stops the thread (it flushes what it holds), closes the socket, lets the function go.
  void Shutdown() {
    if (!running_) return;
    running_ = false;
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof(one));
    (void)w;
    pthread_join(thread_, nullptr);
    reader_->Close();
    if (!state_->finalized) tsfn_.Release();
    close(wake_fd_);
    wake_fd_ = -1;
    napi_remove_env_cleanup_hook(env_, &ReaderWrap::OnEnvCleanup, this);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    napi_deferred d;
    napi_value promise;
    napi_create_promise(env, &d, &promise);
    if (!state_ || state_->finalized || !running_) {
      napi_resolve_deferred(env, d, env.Undefined());
      return Napi::Value(env, promise);
    }
    // Resolved by the finalizer, once every batch already queued has been delivered; the
    // function is referenced again meanwhile so the process waits for that.
    state_->waiters.push_back(d);
    tsfn_.Ref(env);
    Shutdown();
    return Napi::Value(env, promise);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    if (!reader_) return o;
    const PumpStats& s = *reader_->pump.stats();
    o.Set("received", static_cast<double>(s.received.load()));
    o.Set("delivered", static_cast<double>(s.delivered.load()));
    o.Set("lostSocket", static_cast<double>(s.lost_socket.load()));
    o.Set("lostAgent", static_cast<double>(s.lost_agent.load()));
    o.Set("queued", static_cast<double>(s.in_flight.load()));
    o.Set("rcvbuf", reader_->rcvbuf());
    uint64_t cpu = s.thread_cpu_ns.load();
    clockid_t clock;
    timespec ts;
    if (running_ && pthread_getcpuclockid(thread_, &clock) == 0 && clock_gettime(clock, &ts) == 0) {
      cpu = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    }
    o.Set("threadCpuNs", static_cast<double>(cpu));
    return o;
  }

  std::unique_ptr<Reader> reader_;
  std::shared_ptr<StopState> state_;
  Napi::ThreadSafeFunction tsfn_;
  pthread_t thread_{};
  int wake_fd_ = -1;
  bool running_ = false;
  napi_env env_ = nullptr;
  const char* thread_name_ = "nw-reader";
};

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("auditStatus", Napi::Function::New(env, JsAuditStatus, "auditStatus"));
  exports.Set("auditSetEnabled", Napi::Function::New(env, JsAuditSetEnabled, "auditSetEnabled"));
  exports.Set("auditListRules", Napi::Function::New(env, JsAuditListRules, "auditListRules"));
  exports.Set("auditAddExecRule", Napi::Function::New(env, JsAuditAddExecRule, "auditAddExecRule"));
  exports.Set("auditDelRule", Napi::Function::New(env, JsAuditDelRule, "auditDelRule"));
  exports.Set("auditAddWatchRule", Napi::Function::New(env, JsAuditAddWatchRule, "auditAddWatchRule"));
  exports.Set("auditExecRuleArch", Napi::Function::New(env, JsAuditExecRuleArch, "auditExecRuleArch"));
  exports.Set("assembleAuditRecords",
              Napi::Function::New(env, JsAssembleAuditRecords, "assembleAuditRecords"));
  exports.Set("Reader", ReaderWrap::Define(env));
  return exports;
}

NODE_API_MODULE(nodewarden_native, Init)

}  // namespace nw
