// Turns the audit record stream into exec events, and the records of our file watch rules
// (key "<exec key>-w:<path>") into file changes. The kernel writes one syscall's records
// (SYSCALL, EXECVE..., CWD, PATH..., PROCTITLE, EOE) under one serial, but records of other
// CPUs' syscalls interleave, so a few groups are assembled side by side. A group ends on EOE,
// or after a short timeout so a lost EOE never loses the exec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit-text.h"
#include "exec-record.h"
#include "proc-snapshot.h"

namespace nw {

// A syscall that wrote to, or changed the attributes of, a watched file: who did it. The
// process fields and the cgroup (its container) are in rec; paths are the PATH records' names.
struct FileChangeNote {
  uint64_t arch = 0;
  uint64_t syscall = 0;
  int64_t exit = 0;
  ExecRecord rec;  // pid, ppid, ids, comm, exe, cwd, cgroup, key; no argv
  std::vector<std::string> paths;
};

class AssemblerSink {
 public:
  virtual ~AssemblerSink() = default;
  virtual void Emit(ExecRecord& rec) = 0;  // may move from rec
  virtual void ConfigChange(uint64_t time_ns, std::string_view body) = 0;
  virtual void FileChange(FileChangeNote& note) = 0;  // may move from note
};

class AuditAssembler {
 public:
  static constexpr int kSlots = 64;
  static constexpr uint64_t kGroupTimeoutNs = 200ull * 1000 * 1000;

  // Watched files' records carry keys that start with this, after the exec key.
  static constexpr const char* kWatchKeyInfix = "-w:";
  static constexpr size_t kMaxPaths = 8;

  AuditAssembler(std::string key, ProcSnapshot* proc, AssemblerSink* sink)
      : key_(std::move(key)), watch_prefix_(key_ + kWatchKeyInfix), proc_(proc), sink_(sink) {}

  void OnRecord(uint16_t type, std::string_view text, uint64_t now_mono_ns);
  // Ends groups older than the timeout; returns the monotonic time of the next expiry, or 0.
  uint64_t Expire(uint64_t now_mono_ns);
  void FlushAll();

  uint64_t records() const { return records_; }

 private:
  struct Group {
    bool used = false;
    uint64_t serial = 0;
    uint64_t started_ns = 0;
    ExecBuilder b;
    // A file watch's group, not an exec's: its syscall and the PATH names.
    bool watch = false;
    uint64_t arch = 0, syscall = 0;
    int64_t exit = 0;
    std::vector<std::string> paths;
  };

  Group* Find(uint64_t serial);
  Group* Allocate(uint64_t serial, uint64_t now);
  bool OnSyscall(const AuditHeader& h, Group* g);
  void OnExecve(const AuditHeader& h, ExecBuilder& b);
  void Finish(Group* g);
  // 0: not ours; 1: the exec key; 2: a watch key.
  int KeyKind(std::string_view value) const;

  std::string key_;
  std::string watch_prefix_;
  ProcSnapshot* proc_;
  AssemblerSink* sink_;
  Group slots_[kSlots];
  int used_ = 0;
  uint64_t records_ = 0;
};

}  // namespace nw
