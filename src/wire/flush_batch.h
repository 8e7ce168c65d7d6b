// Write batching across sockets while one thread handles one read's worth of inbound frames.
//
// A thread that reads several frames at once (a busy worker connection, a cluster link) produces
// frames for other connections while it handles them. Writing each at once costs a syscall per
// frame; holding them until the read is handled costs nothing for a lone frame (the batch ends
// at once) and gives one write per destination under load. A reader opens a FlushBatch on its
// stack around its handling; a sender that finds one open appends to its own buffer and joins
// the batch, and the batch flushes every joined sender when it closes.
//
// Used by the server side (net/ws_connection.cpp) and the client (wire/ws_client.cpp), so that a
// frame crossing the engine from a worker to a cluster link (or back) is batched on both legs.
#pragma once
#include <memory>
#include <vector>

namespace iii {

// Something that holds frames back while a batch is open and writes them on flush_batch().
struct BatchedSender {
  // Writes what was held back for the batch (from the thread that closes the batch).
  virtual void flush_batch() = 0;
  virtual ~BatchedSender() = default;
};

class FlushBatch {
 public:
  FlushBatch() : outer_(current_) { current_ = this; }
  ~FlushBatch() {
    current_ = outer_;  // flushing may itself send (never inside this batch again)
    for (auto& sender : senders_) {
      try {
        sender->flush_batch();
      } catch (...) {  // out of memory while queueing: that sender's frames wait for its next write
      }
    }
  }
  FlushBatch(const FlushBatch&) = delete;
  FlushBatch& operator=(const FlushBatch&) = delete;

  // The batch open on this thread, or nullptr.
  static FlushBatch* current() { return current_; }
  // REQUIRES: `sender` joins at most once per batch (it keeps a flag of its own).
  void join(std::shared_ptr<BatchedSender> sender) { senders_.push_back(std::move(sender)); }

 private:
  std::vector<std::shared_ptr<BatchedSender>> senders_;
  FlushBatch* const outer_;
  static inline thread_local FlushBatch* current_ = nullptr;
};

}  // namespace iii
