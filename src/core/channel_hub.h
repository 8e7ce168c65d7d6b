// Channels (docs/protocol.md §3.13): a bounded, ordered stream of text or binary items from one writer
// to one reader, addressed by a channel id and an access key. Workers reach a side through
// `/ws/channels/{id}?key=…&dir=read|write` (net/channel_session.cpp); built-in workers such as
// the HTTP trigger hold a side directly, without a socket.
//
// A Channel is thread-safe. Both sides are driven by "try, else wake me": writable() and pop()
// either answer now or store a one-shot wake callback that runs (on whichever thread changed the
// state) when it is worth asking again. Wake callbacks must be cheap and must not call back into
// the same channel synchronously; the sockets post to their strand.
//
// The ChannelHub is engine-wide: it creates channels, finds them by id + key, and sweeps those
// whose two sides did not both connect within the TTL.
#pragma once
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/string_map.h"

namespace iii {

struct ChannelItem {
  bool binary = false;
  std::string data;
};

enum class ChannelDirection { kRead, kWrite };

class Channel {
 public:
  using Clock = std::chrono::steady_clock;

  Channel(std::string id, std::string access_key, size_t capacity, Clock::time_point created_at);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  const std::string& id() const { return id_; }
  const std::string& access_key() const { return access_key_; }
  size_t capacity() const { return capacity_; }
  Clock::time_point created_at() const { return created_at_; }

  // Claims one side. False when that side was claimed before (each side is taken once).
  bool take(ChannelDirection side);
  bool both_taken() const;

  // --- writer side (REQUIRES: the caller took kWrite) ---
  enum class WriteState { kReady, kWait, kGone };
  // kReady: push() one item now. kWait: the queue is full; `wake` runs once when that may have
  // changed. kGone: the reader went away or the channel was closed; stop writing.
  WriteState writable(std::function<void()> wake);
  // Appends one item. False (item dropped) when the reader is gone. The bound is kept by writers
  // asking writable() first; push() itself never refuses for fullness.
  bool push(ChannelItem item);
  // End of stream: the reader gets what is queued, then the end. Idempotent.
  void finish();
  // `fn` runs once when the reader goes away or the channel closes (at once if that happened
  // already), so that a writer busy elsewhere (e.g. waiting on its socket) can stop.
  void on_reader_gone(std::function<void()> fn);

  // --- reader side (REQUIRES: the caller took kRead) ---
  enum class ReadState { kItem, kWait, kEnd };
  // kItem: `out` holds the next item. kWait: nothing queued yet; `wake` runs once when that may
  // have changed. kEnd: the writer finished and everything was read, or the channel was closed.
  ReadState pop(ChannelItem& out, std::function<void()> wake);
  // The reader goes away: queued items are dropped and the writer is told to stop. Idempotent.
  void abandon();
  bool reader_gone() const;

  // Ends both sides now (sweep, shutdown, an HTTP request that is over). Idempotent.
  void close();
  bool closed() const;

  size_t queued_items() const;
  size_t queued_bytes() const;

  // A queue holding this many bytes also counts as full, whatever its item count: capacity is
  // counted in items, and items may be large.
  static constexpr size_t kMaxQueuedBytes = 16u << 20;

 private:
  // The registered callbacks, taken out to run once the lock is released.
  struct Wakeups {
    std::function<void()> writer, reader, reader_gone;
  };
  bool full_locked() const { return queue_.size() >= capacity_ || queued_bytes_ >= kMaxQueuedBytes; }
  // REQUIRES: mu_ held. Empties the queue into `dropped` (freed after unlocking) and takes every
  // callback, which nobody may call again.
  Wakeups end_locked(std::deque<ChannelItem>& dropped);
  void finish(bool Channel::*flag, bool wake_reader);

  const std::string id_;
  const std::string access_key_;
  const size_t capacity_;
  const Clock::time_point created_at_;

  mutable std::mutex mu_;
  std::deque<ChannelItem> queue_;
  size_t queued_bytes_ = 0;
  bool writer_taken_ = false;
  bool reader_taken_ = false;
  bool finished_ = false;     // the writer is done
  bool reader_gone_ = false;  // the reader is done
  bool closed_ = false;
  std::function<void()> writer_wake_;
  std::function<void()> reader_wake_;
  std::function<void()> reader_gone_watch_;
};

// {"channel_id":"…","access_key":"…","direction":"read"|"write"}: how a ref travels in payloads.
std::string channel_ref_json(const Channel& channel, ChannelDirection direction);

class ChannelHub {
 public:
  using Clock = Channel::Clock;
  static constexpr size_t kDefaultBufferSize = 64;
  static constexpr size_t kMaxBufferSize = 1024;

  struct Options {
    std::chrono::milliseconds ttl{5 * 60 * 1000};           // both sides must connect within it
    std::chrono::milliseconds sweep_interval{60 * 1000};
  };

  ChannelHub();
  explicit ChannelHub(Options options);
  ChannelHub(const ChannelHub&) = delete;
  ChannelHub& operator=(const ChannelHub&) = delete;

  // A new channel buffering `buffer_size` items, clamped to [1, kMaxBufferSize]. Its id is a UUID;
  // its access key a secret UUID shared by both refs.
  std::shared_ptr<Channel> create(size_t buffer_size = kDefaultBufferSize);
  // The channel with this id when `access_key` matches (compared in constant time), else null.
  std::shared_ptr<Channel> find(std::string_view id, std::string_view access_key) const;
  // Forgets a channel: later lookups fail; holders of the pointer keep using it.
  void remove(std::string_view id);
  size_t size() const;

  // Sweeps when a sweep interval has passed since the last one. Driven by Engine::add_ticker.
  void tick(Clock::time_point now);
  // Closes and forgets every channel older than the TTL whose two sides are not both taken.
  // Returns how many went.
  size_t sweep(Clock::time_point now);
  // Closes and forgets every channel (shutdown).
  void close_all();

 private:
  const Options options_;
  mutable std::mutex mu_;
  StringMap<std::shared_ptr<Channel>> channels_;
  Clock::time_point last_sweep_;
};

// Equality of two secrets in time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace iii
