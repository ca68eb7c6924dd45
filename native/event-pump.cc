// Batching and delivery of exec events to JavaScript (see event-pump.h).
#include "event-pump.h"

#include <time.h>

namespace nw {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

namespace {

Batch* NewBatch() {
  Batch* b = new Batch();
  b->events.reserve(Pump::kMaxBatch);
  return b;
}

bool HasContent(const Batch& b) {
  return !b.events.empty() || b.lost_socket || b.lost_agent || !b.config_changes.empty() ||
         !b.error.empty();
}

Napi::Value Str(Napi::Env env, const ExecRecord& r, const Span& s) {
  // napi_create_string_utf8 replaces invalid UTF-8 with U+FFFD: it never throws on bytes.
  if (!s.set) return Napi::String::New(env, "", 0);
  return Napi::String::New(env, r.strs.data() + s.off, s.len);
}

}  // namespace

Napi::Object ExecToJs(Napi::Env env, const ExecRecord& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("source", r.source == Source::Audit ? "audit" : "connector");
  o.Set("timeUnixNano", Napi::BigInt::New(env, r.time_ns));
  if (r.has_serial) o.Set("serial", Napi::Number::New(env, static_cast<double>(r.serial)));
  o.Set("pid", Napi::Number::New(env, r.pid));
  o.Set("ppid", Napi::Number::New(env, r.ppid));
  o.Set("uid", Napi::Number::New(env, r.uid));
  o.Set("euid", Napi::Number::New(env, r.euid));
  o.Set("gid", Napi::Number::New(env, r.gid));
  o.Set("egid", Napi::Number::New(env, r.egid));
  o.Set("auid", Napi::Number::New(env, r.auid));
  o.Set("exe", Str(env, r, r.exe));
  o.Set("comm", Str(env, r, r.comm));
  Napi::Array argv = Napi::Array::New(env, r.argc);
  uint32_t off = 0;
  for (uint32_t i = 0; i < r.argc; i++) {
    uint32_t len = r.ArgLen(i);
    argv.Set(i, Napi::String::New(env, r.args.data() + off, len));
    off += len;
  }
  o.Set("argv", argv);
  o.Set("argvTruncated", Napi::Boolean::New(env, r.argv_truncated));
  o.Set("argvMissing", Napi::Boolean::New(env, r.argv_missing));
  o.Set("cwd", Str(env, r, r.cwd));
  o.Set("success", Napi::Boolean::New(env, r.success));
  o.Set("cgroup", r.cgroup.set ? Str(env, r, r.cgroup) : env.Null());
  o.Set("startTime", r.has_start_time ? Napi::BigInt::New(env, r.start_time).As<Napi::Value>()
                                      : env.Null());
  if (r.stdin_link.set || r.stdout_link.set) {
    Napi::Object stdio = Napi::Object::New(env);
    stdio.Set("stdin", Str(env, r, r.stdin_link));
    stdio.Set("stdout", Str(env, r, r.stdout_link));
    o.Set("stdio", stdio);
  }
  if (r.key.set) o.Set("auditKey", Str(env, r, r.key));
  return o;
}

namespace {

// During environment teardown, Node still drains queued calls but refuses property sets
// (NAPI_PREAMBLE), and node-addon-api would make that refusal fatal. Probe with a raw call.
bool CanCallIntoJs(napi_env env) {
  napi_value probe;
  if (napi_create_object(env, &probe) != napi_ok) return false;
  return napi_set_named_property(env, probe, "p", probe) == napi_ok;
}

}  // namespace

void Pump::Push(ExecRecord& rec, uint64_t now) {
  stats_->received.fetch_add(1, std::memory_order_relaxed);
  size_t queued = stats_->in_flight.load(std::memory_order_relaxed) +
                  (pending_ ? pending_->events.size() : 0);
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = now;
  if (queued >= max_queue_) {
    // JavaScript is behind by a whole queue: drop this exec, never stall the socket.
    stats_->lost_agent.fetch_add(1, std::memory_order_relaxed);
    pending_->lost_agent++;
    return;
  }
  pending_->events.push_back(std::move(rec));
  if (pending_->events.size() >= kMaxBatch) Flush();
}

void Pump::NoteSocketLoss() {
  stats_->lost_socket.fetch_add(1, std::memory_order_relaxed);
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = MonotonicNs();
  pending_->lost_socket++;
}

void Pump::NoteConfigChange(uint64_t time_ns, std::string_view body) {
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = MonotonicNs();
  if (pending_->config_changes.size() < 64) {
    pending_->config_changes.push_back(ConfigNote{time_ns, std::string(body)});
  }
}

void Pump::NoteError(std::string message) {
  if (!pending_) pending_.reset(NewBatch());
  pending_->error = std::move(message);
  Flush();
}

uint64_t Pump::MaybeFlush(uint64_t now) {
  if (!pending_ || !HasContent(*pending_)) return 0;
  uint64_t due = pending_since_ + kMaxDelayNs;
  // Notices go out at once; events wait for company up to 5 ms.
  bool notice = pending_->lost_socket || pending_->lost_agent ||
                !pending_->config_changes.empty();
  if (notice || now >= due) {
    Flush();
    return 0;
  }
  return due;
}

void Pump::Flush() {
  if (!pending_ || !HasContent(*pending_)) return;
  Batch* b = pending_.release();
  size_t n = b->events.size();
  b->stats = stats_;
  stats_->in_flight.fetch_add(n, std::memory_order_relaxed);
  napi_status st = tsfn_.NonBlockingCall(b, [](Napi::Env env, Napi::Function cb, Batch* batch) {
    Pump::Deliver(env, cb, batch);
  });
  if (st != napi_ok) {
    // The function is closing (stop or exit): nobody is left to deliver to.
    stats_->in_flight.fetch_sub(n, std::memory_order_relaxed);
    delete b;
  }
}

void Pump::Deliver(Napi::Env env, Napi::Function cb, Batch* batch) {
  std::unique_ptr<Batch> own(batch);
  size_t n = batch->events.size();
  if (env != nullptr && cb != nullptr && CanCallIntoJs(env)) {
    Napi::HandleScope scope(env);
    Napi::Array events = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; i++) events.Set(static_cast<uint32_t>(i), ExecToJs(env, batch->events[i]));
    Napi::Object info = Napi::Object::New(env);
    info.Set("lostSocket", Napi::Number::New(env, static_cast<double>(batch->lost_socket)));
    info.Set("lostAgent", Napi::Number::New(env, static_cast<double>(batch->lost_agent)));
    Napi::Array changes = Napi::Array::New(env, batch->config_changes.size());
    for (size_t i = 0; i < batch->config_changes.size(); i++) {
      Napi::Object c = Napi::Object::New(env);
      c.Set("timeUnixNano", Napi::BigInt::New(env, batch->config_changes[i].time_ns));
      c.Set("text", Napi::String::New(env, batch->config_changes[i].body));
      changes.Set(static_cast<uint32_t>(i), c);
    }
    info.Set("configChanges", changes);
    if (!batch->error.empty()) info.Set("error", batch->error);
    // Counted before the call: JS may call stats() from inside the callback.
    batch->stats->delivered.fetch_add(n, std::memory_order_relaxed);
    batch->stats->in_flight.fetch_sub(n, std::memory_order_relaxed);
    // The raw call: during environment teardown it fails, and node-addon-api would turn
    // that failure into a fatal error. A batch nobody can receive any more is just dropped.
    napi_value argv[2] = {events, info};
    napi_value ignored;
    napi_call_function(env, env.Undefined(), cb, 2, argv, &ignored);
  } else {
    batch->stats->in_flight.fetch_sub(n, std::memory_order_relaxed);
  }
}

}  // namespace nw
