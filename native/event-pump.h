// The hand-off from a reader thread to JavaScript. The reader pushes finished execs; the pump
// groups them into batches (up to 256 events or 5 ms) and queues each batch on a
// thread-safe function without ever blocking. Queued-but-undelivered events are bounded
// (maxQueue): past the bound new execs are dropped and counted as lost by the agent, and the
// count reaches JavaScript with the next batch, so a drop is never silent.
//
//   reader thread ──Push──▶ pending ──Flush──▶ TSFN queue ──▶ JS callback(events, info)
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "exec-record.h"

namespace nw {

struct PumpStats {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> lost_socket{0};
  std::atomic<uint64_t> lost_agent{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> thread_cpu_ns{0};  // CPU time of the reader thread so far
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
  std::string error;  // a reader failure that ended the thread
  std::shared_ptr<PumpStats> stats;
};

class Pump {
 public:
  static constexpr size_t kMaxBatch = 256;
  static constexpr uint64_t kMaxDelayNs = 5ull * 1000 * 1000;

  Pump() : stats_(std::make_shared<PumpStats>()) {}
  void Init(Napi::ThreadSafeFunction tsfn, size_t max_queue) {
    tsfn_ = tsfn;
    max_queue_ = max_queue;
  }
  const std::shared_ptr<PumpStats>& stats() const { return stats_; }

  // Reader-thread side.
  void Push(ExecRecord& rec, uint64_t now_mono_ns);  // moves from rec
  void NoteSocketLoss();
  void NoteConfigChange(uint64_t time_ns, std::string_view body);
  void NoteError(std::string message);
  // Flushes when due; returns the monotonic time the pending batch falls due, or 0.
  uint64_t MaybeFlush(uint64_t now_mono_ns);
  void Flush();

  // Main-thread side: builds the JS arguments and calls the callback.
  static void Deliver(Napi::Env env, Napi::Function cb, Batch* batch);

 private:
  std::shared_ptr<PumpStats> stats_;
  Napi::ThreadSafeFunction tsfn_;
  size_t max_queue_ = 65536;
  std::unique_ptr<Batch> pending_;
  uint64_t pending_since_ = 0;
};

// The JavaScript form of an exec (the shape of NativeExecEvent in native.ts).
Napi::Object ExecToJs(Napi::Env env, const ExecRecord& r);

uint64_t MonotonicNs();
uint64_t ThreadCpuNs();
uint64_t RealtimeNs();

}  // namespace nw
