// The socket loop every reader shares: poll the socket and the wake-up eventfd, drain the
// socket in bounded rounds of recvmmsg (so timers still run under a flood), count overruns,
// and flush the pump on time.
#include "reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace nw {

void Reader::Run(int wake_fd) {
  const int batch = batch_msgs();
  const size_t bytes = msg_bytes();
  std::vector<char> storage(static_cast<size_t>(batch) * bytes);
  std::vector<mmsghdr> msgs(static_cast<size_t>(batch));
  std::vector<iovec> iov(static_cast<size_t>(batch));
  for (int i = 0; i < batch; i++) {
    iov[i].iov_base = storage.data() + static_cast<size_t>(i) * bytes;
    iov[i].iov_len = bytes;
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  uint64_t next_due = 0;
  for (;;) {
    uint64_t now = MonotonicNs();
    int timeout = -1;
    if (next_due) timeout = next_due > now ? static_cast<int>((next_due - now) / 1000000 + 1) : 0;
    int pr = poll(fds, 2, timeout);
    if (pr < 0 && errno != EINTR) {
      pump.NoteError(std::string("poll failed: ") + strerror(errno));
      break;
    }
    if (pr > 0 && fds[1].revents) break;
    now = MonotonicNs();
    if (pr > 0 && fds[0].revents) {
      // Bounded rounds, so timeouts and flushes still happen under a flood.
      for (int round = 0; round < 8; round++) {
        int n = recvmmsg(fd_, msgs.data(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == ENOBUFS) {
            // The socket overflowed: the kernel dropped messages for us. Count, carry on.
            pump.NoteSocketLoss();
            continue;
          }
          pump.NoteError(std::string(kind()) + " socket read failed: " + strerror(errno));
          goto out;
        }
        for (int i = 0; i < n; i++) OnDatagram(iov[i].iov_base, msgs[i].msg_len, now);
        if (n < batch) break;
      }
    }
    {
      uint64_t a = Tick(now);
      uint64_t p = pump.MaybeFlush(MonotonicNs());
      next_due = a && p ? (a < p ? a : p) : (a ? a : p);
    }
  }
out:
  Finish();
  // While the thread runs its CPU time is read from outside (ReaderWrap::Stats): a clock
  // syscall per wake-up would cost as much as a /proc read.
  pump.stats()->thread_cpu_ns.store(ThreadCpuNs(), std::memory_order_relaxed);
  pump.Flush();
}

}  // namespace nw
