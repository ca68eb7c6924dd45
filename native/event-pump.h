// The hand-off from a reader thread to JavaScript. The reader pushes finished execs; the pump
// groups them into batches (up to 256 events or 50 ms) and queues each batch on a
// thread-safe function without ever blocking. Queued-but-undelivered events are bounded
// (maxQueue): past the bound new execs are dropped and counted as lost by the agent, and the
// count reaches JavaScript with the next batch, so a drop is never silent.
//
//   reader thread ──Push──▶ pending ──Flush──▶ TSFN queue ──▶ JS callback(raw batch, info)
//
// A batch crosses into JavaScript in columns (BatchToJs): one Float64Array of numbers and one
// array of strings, which collectors/process/sources/native.ts turns into exec objects. Strings
// that repeat from exec to exec (exe, comm, cwd, cgroup, stdio, key, argv[0]) come from a small
// cache of JavaScript strings instead of being made again each time.
#pragma once

#include <napi.h>

#include <atomic>
#include <bitset>
#include <memory>
#include <string>
#include <vector>

#include "audit-assembler.h"
#include "exec-record.h"

namespace nw {

struct PumpStats {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> lost_socket{0};
  std::atomic<uint64_t> lost_agent{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> thread_cpu_ns{0};  // CPU time of the reader thread, set when it ends
};

// JavaScript strings recently handed over, by their bytes: a direct-mapped table whose values
// live in one JavaScript array (one reference for the lot), which a batch hands over too, so a
// repeated string costs JavaScript an array read instead of a string made and stored through
// N-API. Main thread only.
class StringCache {
 public:
  static constexpr size_t kSlots = 256;
  static constexpr size_t kMaxBytes = 8192;
  // Starts a batch: returns the array (made on first use); no slot is handed out yet.
  napi_value Begin(napi_env env);
  // The slot holding these bytes (stored now if it did not), or -1 when they are not cached:
  // too long, or their slot holds other bytes already handed out in this batch.
  int Slot(napi_env env, napi_value array, const char* p, size_t n);
  // Drops the reference to the array (the thread-safe function's finalizer calls it).
  void Release(napi_env env);

 private:
  napi_ref array_ = nullptr;
  std::string bytes_[kSlots];
  bool used_[kSlots] = {};
  std::bitset<kSlots> handed_;
};

struct ConfigNote {
  uint64_t time_ns;
  std::string body;
};

struct Batch {
  std::vector<ExecRecord> events;
  uint64_t lost_socket = 0;  // ENOBUFS seen since the previous batch
  uint64_t lost_agent = 0;   // execs dropped by the bound since the previous batch
  std::vector<ConfigNote> config_changes;
  std::vector<FileChangeNote> file_changes;
  std::string error;  // a reader failure that ended the thread
  std::shared_ptr<PumpStats> stats;
  std::shared_ptr<StringCache> strings;
};

// A file change as the JavaScript object the reader's callback receives (info.fileChanges).
Napi::Object FileChangeToJs(Napi::Env env, const FileChangeNote& note);

class Pump {
 public:
  static constexpr size_t kMaxBatch = 256;
  // Each batch wakes the event loop, and a wake-up with a call into JavaScript costs more than an
  // exec's whole evaluation. At 5 ms most batches held a single exec; at 50 ms the main thread's
  // CPU per exec fell from ~160 to ~65 µs (agent-exec benchmark). A finding waits 45 ms longer.
  static constexpr uint64_t kMaxDelayNs = 50ull * 1000 * 1000;

  Pump() : stats_(std::make_shared<PumpStats>()), strings_(std::make_shared<StringCache>()) {}
  void Init(Napi::ThreadSafeFunction tsfn, size_t max_queue) {
    tsfn_ = tsfn;
    max_queue_ = max_queue;
  }
  const std::shared_ptr<PumpStats>& stats() const { return stats_; }
  const std::shared_ptr<StringCache>& strings() const { return strings_; }

  // Reader-thread side.
  void Push(ExecRecord& rec, uint64_t now_mono_ns);  // moves from rec
  void NoteSocketLoss(uint64_t count = 1);
  void NoteConfigChange(uint64_t time_ns, std::string_view body);
  void NoteFileChange(FileChangeNote& note);  // moves from note
  void NoteError(std::string message);
  // Flushes when due; returns the monotonic time the pending batch falls due, or 0.
  uint64_t MaybeFlush(uint64_t now_mono_ns);
  void Flush();

  // Main-thread side: builds the JS arguments and calls the callback.
  static void Deliver(Napi::Env env, Napi::Function cb, Batch* batch);

 private:
  std::shared_ptr<PumpStats> stats_;
  std::shared_ptr<StringCache> strings_;
  Napi::ThreadSafeFunction tsfn_;
  size_t max_queue_ = 65536;
  std::unique_ptr<Batch> pending_;
  uint64_t pending_since_ = 0;
};

// Numbers per exec in a batch's Float64Array, and what each slot holds; decodeExecBatch in
// collectors/process/sources/native.ts reads them by the same positions.
constexpr size_t kNumFields = 23;
enum NumField : size_t {
  kFlags = 0,      // kFlag* bits below, and ns_init + 1 shifted by kNsInitShift
  kTimeSec = 1,    // time_ns split so neither part loses precision in a double
  kTimeNsec = 2,
  kSerial = 3,
  kPid = 4,
  kPpid = 5,
  kUid = 6,
  kEuid = 7,
  kGid = 8,
  kEgid = 9,
  kAuid = 10,
  kArgc = 11,
  kStartTime = 12,
  kExeCtimeSec = 13,
  kExeCtimeNsec = 14,
  // Where the strings that repeat are: exe, comm, cwd, cgroup, stdin, stdout, key, argv[0]. A
  // slot of the batch's string cache (>= 0), the next string of the batch's own array (-1), or
  // the empty string (-2). The rest of argv is always in the batch's own array, in order.
  kStrings = 15,
};
constexpr size_t kRepeatedStrings = 8;
constexpr uint32_t kFlagConnector = 1;
constexpr uint32_t kFlagSerial = 2;
constexpr uint32_t kFlagSuccess = 4;
constexpr uint32_t kFlagArgvTruncated = 8;
constexpr uint32_t kFlagArgvMissing = 16;
constexpr uint32_t kFlagStartTime = 32;
constexpr uint32_t kFlagExeCtime = 64;
constexpr uint32_t kFlagCgroup = 128;
constexpr uint32_t kFlagStdio = 256;
constexpr uint32_t kFlagKey = 512;
constexpr uint32_t kNsInitShift = 10;  // two bits
constexpr uint32_t kFlagBpf = 4096;

// The JavaScript form of a batch: { n: Float64Array, s: string[], c: string[] (the cache's
// array, or an empty one when cache is null) }.
napi_value BatchToJs(napi_env env, const std::vector<ExecRecord>& recs, StringCache* cache);

uint64_t MonotonicNs();
uint64_t ThreadCpuNs();
uint64_t RealtimeNs();

}  // namespace nw
