// One exec as the native readers build it, before it becomes a JavaScript object. Strings live
// in two arenas (argv and everything else) addressed by offset, so a queued exec costs two
// allocations and ~150 bytes plus its text. The argv bounds the agent promises (128 args,
// 4 KiB each, 32 KiB in all) are enforced here, while bytes arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace nw {

constexpr uint32_t kUnknownId = 4294967295u;  // what audit itself prints for "unset" (-1)
constexpr size_t kMaxArgs = 128;
constexpr size_t kMaxArgBytes = 4096;
constexpr size_t kMaxArgvBytes = 32 * 1024;

enum class Source : uint8_t { Audit = 0, Connector = 1, Bpf = 2 };

struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
  bool set = false;
};

// The queued form: fixed fields, a string arena, and argv as back-to-back bytes whose
// lengths sit at the end of the string arena (argc uint32s from argv_lens_off).
struct ExecRecord {
  Source source = Source::Audit;
  bool has_serial = false;
  bool success = true;
  bool argv_truncated = false;
  bool argv_missing = false;
  bool has_start_time = false;
  bool has_exe_ctime = false;
  // Pid 1 of its own pid namespace: -1 unknown (gone before /proc was read), 0 no, 1 yes.
  int8_t ns_init = -1;
  uint64_t time_ns = 0;
  uint64_t serial = 0;
  uint64_t start_time = 0;
  uint64_t exe_ctime_ns = 0;  // ctime of the file /proc/PID/exe leads to, read at exec time
  int32_t pid = 0;
  int32_t ppid = 0;
  uint32_t uid = kUnknownId, euid = kUnknownId, gid = kUnknownId, egid = kUnknownId,
           auid = kUnknownId;
  uint32_t argc = 0;
  uint32_t argv_lens_off = 0;
  std::string strs;
  std::string args;
  Span exe, comm, cwd, cgroup, stdin_link, stdout_link, key;

  Span Put(const char* p, size_t n) {
    Span s;
    s.off = static_cast<uint32_t>(strs.size());
    s.len = static_cast<uint32_t>(n);
    s.set = true;
    strs.append(p, n);
    return s;
  }
  uint32_t ArgLen(uint32_t i) const {
    uint32_t v;
    memcpy(&v, strs.data() + argv_lens_off + 4 * i, 4);
    return v;
  }
};

// An exec being assembled: the record plus per-argument bookkeeping that is not queued.
struct ExecBuilder {
  ExecRecord rec;
  uint32_t arg_len[kMaxArgs];
  // The audit argument index the last argv slot holds, so a1[1] chunks extend the right
  // argument; -2 once the bounds refused an argument (its chunks are then dropped).
  int32_t last_arg_index = -1;
  int32_t announced_argc = -1;  // audit "argc=", to notice records that never arrived
  Span proctitle;

  void Reset(Source s) {
    // Arenas still owned (the last group was discarded, not emitted) are reused; emitted
    // ones left with their record, so fresh ones are sized for a typical exec up front.
    std::string strs = std::move(rec.strs);
    std::string args = std::move(rec.args);
    strs.clear();
    args.clear();
    rec = ExecRecord();
    rec.strs = std::move(strs);
    rec.args = std::move(args);
    if (rec.strs.capacity() < 512) rec.strs.reserve(512);
    if (rec.args.capacity() < 256) rec.args.reserve(256);
    rec.source = s;
    last_arg_index = -1;
    announced_argc = -1;
    proctitle = Span();
  }

  // Start a new argument; false (and the truncation flag) when the bounds are reached.
  bool BeginArg(int32_t index) {
    if (rec.argc >= kMaxArgs || rec.args.size() >= kMaxArgvBytes) {
      rec.argv_truncated = true;
      last_arg_index = -2;
      return false;
    }
    arg_len[rec.argc++] = 0;
    last_arg_index = index;
    return true;
  }

  // Append bytes to the current (last begun) argument, respecting both bounds.
  void AppendArg(const char* p, size_t n) {
    if (rec.argc == 0 || last_arg_index == -2) return;
    uint32_t& len = arg_len[rec.argc - 1];
    size_t room_arg = len < kMaxArgBytes ? kMaxArgBytes - len : 0;
    size_t room_all = rec.args.size() < kMaxArgvBytes ? kMaxArgvBytes - rec.args.size() : 0;
    size_t take = n;
    if (take > room_arg) take = room_arg;
    if (take > room_all) take = room_all;
    if (take < n) rec.argv_truncated = true;
    if (take == 0) return;
    rec.args.append(p, take);
    len += static_cast<uint32_t>(take);
  }

  // Seal argv into the record; the builder must be Reset before reuse.
  void Seal() {
    rec.argv_lens_off = static_cast<uint32_t>(rec.strs.size());
    rec.strs.append(reinterpret_cast<const char*>(arg_len), 4 * rec.argc);
  }
};

}  // namespace nw
