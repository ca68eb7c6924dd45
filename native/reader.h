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
  size_t max_queue = 65536;
  int rcvbuf_bytes = 32 * 1024 * 1024;
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Returns 0, or -errno with a sentence in *what naming the step that failed.
  virtual int Open(const ReaderOptions& opts, std::string* what) = 0;
  virtual void Run(int wake_fd) = 0;
  virtual void Close() = 0;
  // The socket receive buffer actually granted, for stats.
  int rcvbuf() const { return rcvbuf_; }
  Pump pump;

 protected:
  int rcvbuf_ = 0;
};

std::unique_ptr<Reader> NewAuditReader();
std::unique_ptr<Reader> NewConnectorReader();

// Shared socket set-up: a large receive buffer, forced past rmem_max when we may.
int GrowReceiveBuffer(int fd, int bytes);

}  // namespace nw
