// Batching and delivery of exec events to JavaScript (see event-pump.h).
#include "event-pump.h"

#include <string.h>
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
         !b.file_changes.empty() || !b.error.empty();
}

}  // namespace

static Napi::Value SpanString(Napi::Env env, const ExecRecord& rec, const Span& s) {
  if (!s.set) return Napi::String::New(env, "");
  return Napi::String::New(env, rec.strs.data() + s.off, s.len);
}

Napi::Object FileChangeToJs(Napi::Env env, const FileChangeNote& n) {
  const ExecRecord& r = n.rec;
  Napi::Object o = Napi::Object::New(env);
  o.Set("timeUnixNano", Napi::BigInt::New(env, r.time_ns));
  o.Set("arch", Napi::Number::New(env, static_cast<double>(n.arch)));
  o.Set("syscall", Napi::Number::New(env, static_cast<double>(n.syscall)));
  o.Set("success", Napi::Boolean::New(env, r.success));
  o.Set("exit", Napi::Number::New(env, static_cast<double>(n.exit)));
  o.Set("pid", Napi::Number::New(env, r.pid));
  o.Set("ppid", Napi::Number::New(env, r.ppid));
  auto id = [&](uint32_t v) { return Napi::Number::New(env, v == kUnknownId ? -1 : static_cast<double>(v)); };
  o.Set("uid", id(r.uid));
  o.Set("euid", id(r.euid));
  o.Set("auid", id(r.auid));
  o.Set("comm", SpanString(env, r, r.comm));
  o.Set("exe", SpanString(env, r, r.exe));
  o.Set("cwd", SpanString(env, r, r.cwd));
  o.Set("cgroup", SpanString(env, r, r.cgroup));
  o.Set("key", SpanString(env, r, r.key));
  Napi::Array paths = Napi::Array::New(env, n.paths.size());
  for (size_t i = 0; i < n.paths.size(); i++) paths.Set(static_cast<uint32_t>(i), Napi::String::New(env, n.paths[i]));
  o.Set("paths", paths);
  return o;
}


namespace {

uint64_t Load64(const char* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

// A cheap slot for a byte string: its length and three words of it (start, middle, end). The
// slot's bytes are compared in full before a cached string is reused, so a weak hash costs a
// miss, never a wrong string.
size_t SlotOf(const char* p, size_t n) {
  uint64_t h = n * 0x9E3779B97F4A7C15ull;
  if (n >= 8) {
    h ^= Load64(p);
    h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ull;
    h ^= Load64(p + n - 8);
    h = (h ^ (h >> 29)) * 0x94D049BB133111EBull;
    h ^= Load64(p + (n - 8) / 2);
  } else {
    for (size_t i = 0; i < n; i++) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001B3ull;
  }
  h ^= h >> 32;
  return static_cast<size_t>(h) % StringCache::kSlots;
}

napi_value NewString(napi_env env, const char* p, size_t n) {
  // napi_create_string_utf8 replaces invalid UTF-8 with U+FFFD: it never fails on bytes.
  napi_value v;
  napi_create_string_utf8(env, p, n, &v);
  return v;
}

}  // namespace

napi_value StringCache::Begin(napi_env env) {
  handed_.reset();
  napi_value array = nullptr;
  if (array_ != nullptr) napi_get_reference_value(env, array_, &array);
  if (array == nullptr) {
    napi_create_array_with_length(env, kSlots, &array);
    if (array_ != nullptr) napi_delete_reference(env, array_);
    napi_create_reference(env, array, 1, &array_);
    for (bool& u : used_) u = false;
  }
  return array;
}

int StringCache::Slot(napi_env env, napi_value array, const char* p, size_t n) {
  if (n > kMaxBytes) return -1;
  size_t slot = SlotOf(p, n);
  if (used_[slot] && bytes_[slot].size() == n && memcmp(bytes_[slot].data(), p, n) == 0) {
    handed_.set(slot);
    return static_cast<int>(slot);
  }
  // An exec earlier in this batch points at what the slot holds: leave it be.
  if (handed_.test(slot)) return -1;
  if (napi_set_element(env, array, static_cast<uint32_t>(slot), NewString(env, p, n)) != napi_ok) return -1;
  bytes_[slot].assign(p, n);
  used_[slot] = true;
  handed_.set(slot);
  return static_cast<int>(slot);
}

void StringCache::Release(napi_env env) {
  if (array_ != nullptr) napi_delete_reference(env, array_);
  array_ = nullptr;
  for (std::string& b : bytes_) std::string().swap(b);
  for (bool& u : used_) u = false;
}

napi_value BatchToJs(napi_env env, const std::vector<ExecRecord>& recs, StringCache* cache) {
  size_t n = recs.size();
  void* data = nullptr;
  napi_value buffer, nums, strs, cached, out;
  napi_create_arraybuffer(env, n * kNumFields * sizeof(double), &data, &buffer);
  napi_create_typedarray(env, napi_float64_array, n * kNumFields, buffer, 0, &nums);
  napi_create_array(env, &strs);
  if (cache) cached = cache->Begin(env);
  else napi_create_array(env, &cached);
  double* d = static_cast<double*>(data);
  uint32_t k = 0;
  auto put = [&](const char* p, size_t len) { napi_set_element(env, strs, k++, NewString(env, p, len)); };
  // A string that repeats: its cache slot, else appended to the batch's own strings.
  auto repeated = [&](double* at, const char* p, size_t len) {
    if (len == 0) {
      *at = -2;
      return;
    }
    int slot = cache ? cache->Slot(env, cached, p, len) : -1;
    *at = slot;
    if (slot < 0) put(p, len);
  };
  for (size_t i = 0; i < n; i++, d += kNumFields) {
    const ExecRecord& r = recs[i];
    uint32_t flags = (r.source == Source::Connector ? kFlagConnector : 0) |
                     (r.source == Source::Bpf ? kFlagBpf : 0) |
                     (r.has_serial ? kFlagSerial : 0) | (r.success ? kFlagSuccess : 0) |
                     (r.argv_truncated ? kFlagArgvTruncated : 0) |
                     (r.argv_missing ? kFlagArgvMissing : 0) |
                     (r.has_start_time ? kFlagStartTime : 0) |
                     (r.has_exe_ctime ? kFlagExeCtime : 0) | (r.cgroup.set ? kFlagCgroup : 0) |
                     (r.stdin_link.set || r.stdout_link.set ? kFlagStdio : 0) |
                     (r.key.set ? kFlagKey : 0) |
                     (static_cast<uint32_t>(r.ns_init + 1) << kNsInitShift);
    d[kFlags] = flags;
    d[kTimeSec] = static_cast<double>(r.time_ns / 1000000000ull);
    d[kTimeNsec] = static_cast<double>(r.time_ns % 1000000000ull);
    d[kSerial] = static_cast<double>(r.serial);
    d[kPid] = r.pid;
    d[kPpid] = r.ppid;
    d[kUid] = r.uid;
    d[kEuid] = r.euid;
    d[kGid] = r.gid;
    d[kEgid] = r.egid;
    d[kAuid] = r.auid;
    d[kArgc] = r.argc;
    d[kStartTime] = static_cast<double>(r.start_time);
    d[kExeCtimeSec] = static_cast<double>(r.exe_ctime_ns / 1000000000ull);
    d[kExeCtimeNsec] = static_cast<double>(r.exe_ctime_ns % 1000000000ull);
    const Span* fixed[kRepeatedStrings - 1] = {&r.exe, &r.comm, &r.cwd, &r.cgroup, &r.stdin_link, &r.stdout_link, &r.key};
    for (size_t f = 0; f < kRepeatedStrings - 1; f++) {
      const Span& sp = *fixed[f];
      repeated(&d[kStrings + f], r.strs.data() + sp.off, sp.set ? sp.len : 0);
    }
    uint32_t off = 0;
    for (uint32_t a = 0; a < r.argc; a++) {
      uint32_t len = r.ArgLen(a);
      const char* p = r.args.data() + off;
      // argv[0] repeats (the same program run again and again); the rest mostly do not.
      if (a == 0) repeated(&d[kStrings + kRepeatedStrings - 1], p, len);
      else put(p, len);
      off += len;
    }
    if (r.argc == 0) d[kStrings + kRepeatedStrings - 1] = -2;
  }
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "n", nums);
  napi_set_named_property(env, out, "s", strs);
  napi_set_named_property(env, out, "c", cached);
  return out;
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

void Pump::NoteSocketLoss(uint64_t count) {
  stats_->lost_socket.fetch_add(count, std::memory_order_relaxed);
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = MonotonicNs();
  pending_->lost_socket += count;
}

void Pump::NoteConfigChange(uint64_t time_ns, std::string_view body) {
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = MonotonicNs();
  if (pending_->config_changes.size() < 64) {
    pending_->config_changes.push_back(ConfigNote{time_ns, std::string(body)});
  }
}

void Pump::NoteFileChange(FileChangeNote& note) {
  if (!pending_) pending_.reset(NewBatch());
  if (!HasContent(*pending_)) pending_since_ = MonotonicNs();
  // Watched files change rarely; a storm of writes keeps the first ones (who started it).
  if (pending_->file_changes.size() < 256) pending_->file_changes.push_back(std::move(note));
}

void Pump::NoteError(std::string message) {
  if (!pending_) pending_.reset(NewBatch());
  pending_->error = std::move(message);
  Flush();
}

uint64_t Pump::MaybeFlush(uint64_t now) {
  if (!pending_ || !HasContent(*pending_)) return 0;
  uint64_t due = pending_since_ + kMaxDelayNs;
  // Notices go out at once; events wait for company up to kMaxDelayNs.
  bool notice = pending_->lost_socket || pending_->lost_agent ||
                !pending_->config_changes.empty() || !pending_->file_changes.empty();
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
  b->strings = strings_;
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
    napi_value events = BatchToJs(env, batch->events, batch->strings.get());
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
    Napi::Array files = Napi::Array::New(env, batch->file_changes.size());
    for (size_t i = 0; i < batch->file_changes.size(); i++) {
      files.Set(static_cast<uint32_t>(i), FileChangeToJs(env, batch->file_changes[i]));
    }
    info.Set("fileChanges", files);
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
