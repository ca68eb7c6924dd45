// A socket reader that runs on a thread of its own. Open() sets the socket up on the caller's
// thread so setup errors (EPERM, EEXIST…) surface as exceptions; Run() is the thread body and
// returns when wake_fd becomes readable; Close() undoes Open() after the thread has joined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "event-pump.h"

namespace nw {

struct ReaderOptions {
  std::string proc_root = "/proc";
  std::string rule_key = "nodewarden";
  bool unicast = false;  // audit: register as the audit daemon instead of joining the group
  std::string bpf_object;  // bpf: the compiled program (build/bpf/exec.bpf.o)
  uint32_t bpf_ring_bytes = 1u << 20;  // bpf: the ring buffer (a power of two, pages)
  size_t max_queue = 65536;
  int rcvbuf_bytes = 32 * 1024 * 1024;
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Returns 0, or -errno with a sentence in *what naming the step that failed.
  virtual int Open(const ReaderOptions& opts, std::string* what) = 0;
  // The thread body: reads the socket in batches (recvmmsg) until wake_fd becomes readable,
  // counting overruns (ENOBUFS) and flushing the pump on time. Shared by the socket readers;
  // the eBPF reader drains a ring buffer instead.
  virtual void Run(int wake_fd);
  virtual void Close() = 0;
  // The socket receive buffer actually granted, for stats.
  int rcvbuf() const { return rcvbuf_; }
  Pump pump;

 protected:
  // One datagram as received.
  virtual void OnDatagram(const void* data, size_t len, uint64_t now_ns) = 0;
  // Time-driven work after each wake-up; returns when it next needs to run (0: never).
  virtual uint64_t Tick(uint64_t /*now_ns*/) { return 0; }
  // The thread is ending: hand on anything half-assembled.
  virtual void Finish() {}
  // What the socket is, for error messages ("audit", "connector").
  virtual const char* kind() const = 0;
  // Datagrams per recvmmsg and the size of each buffer.
  virtual int batch_msgs() const = 0;
  virtual size_t msg_bytes() const = 0;

  int fd_ = -1;
  int rcvbuf_ = 0;
};

std::unique_ptr<Reader> NewAuditReader();
std::unique_ptr<Reader> NewConnectorReader();
std::unique_ptr<Reader> NewBpfReader();

// Shared socket set-up: a large receive buffer, forced past rmem_max when we may.
int GrowReceiveBuffer(int fd, int bytes);

}  // namespace nw
