// Reads what /proc still knows about a process the instant its exec is reported: cgroup,
// start time, stdio links, the executable's ctime, whether it is pid 1 of its pid namespace
// and, for the connector, the whole identity. Runs on a reader thread; every read is bounded
// and a vanished process simply leaves fields unset.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "exec-record.h"

namespace nw {

class ProcSnapshot {
 public:
  explicit ProcSnapshot(std::string proc_root);
  ~ProcSnapshot();
  ProcSnapshot(const ProcSnapshot&) = delete;
  ProcSnapshot& operator=(const ProcSnapshot&) = delete;

  // What audit does not carry: cgroup, start time, fd 0/1 links, exe ctime, namespace init.
  void AddContext(int32_t pid, ExecRecord& rec);
  // Everything, for sources whose event carries only a pid. Returns false when the process
  // was already gone (argv_missing is then set).
  bool ReadAll(int32_t pid, ExecBuilder& b);

 private:
  // Reads up to cap bytes of /proc/PID/name (PID chosen by OpenPid) into scratch_; -1 when
  // it cannot be opened (and gone_ set when that is because the process has gone).
  ssize_t Read(int32_t pid, const char* name, size_t cap);
  bool Link(int32_t pid, const char* name, Span& out, ExecRecord& rec);
  bool ReadStat(int32_t pid, ExecRecord& rec, bool want_comm_ppid);
  void ReadStatus(int32_t pid, ExecRecord& rec);
  void ReadCgroup(int32_t pid, ExecRecord& rec);
  // False (and the cgroup dropped) when the process is exiting or gone.
  bool DropCgroupUnlessAlive(bool stat_ok, ExecRecord& rec);
  // The exe's ctime and whether the process is pid 1 of its pid namespace (rec.ppid set).
  void ReadExeAndNamespace(int32_t pid, ExecRecord& rec);
  // Chooses the process the next reads are of; false when /proc could not be opened.
  bool OpenPid(int32_t pid);
  // "PID/name" in path_, relative to proc_fd_.
  const char* At(const char* name);

  // The pid namespace link of recent parents, by pid. A process never changes its own pid
  // namespace, so a parent's link read once serves its next children: most execs come from a
  // few long-lived parents (shells, shims, the kubelet). See ReadExeAndNamespace for why an entry
  // is trusted only briefly.
  struct ParentNs {
    int32_t pid = 0;
    uint8_t len = 0;
    uint64_t read_ns = 0;  // monotonic
    char link[48];
  };
  static constexpr size_t kParentSlots = 64;
  static constexpr uint64_t kParentTtlNs = 1000ull * 1000 * 1000;
  bool SameNamespaceAsParent(int32_t ppid, const char* own, size_t own_len);

  std::string root_;
  ParentNs parents_[kParentSlots];
  int proc_fd_ = -1;  // the proc root, opened once
  size_t prefix_len_ = 0;  // "PID/" at the start of path_
  bool gone_ = false;  // a file of the process being read was missing: it has exited
  char last_state_ = '?';       // field 3 of the last stat read
  bool last_exiting_ = false;   // PF_EXITING in field 9 of the last stat read
  char path_[512];
  // Big enough for the argv bound plus one byte to notice there was more.
  char scratch_[32 * 1024 + 1];
};

}  // namespace nw
