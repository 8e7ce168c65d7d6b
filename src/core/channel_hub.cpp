#include "core/channel_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "wire/json_writer.h"
#include "wire/uuid.h"

namespace iii {

// --- Channel ---

Channel::Channel(std::string id, std::string access_key, size_t capacity, Clock::time_point created_at)
    : id_(std::move(id)), access_key_(std::move(access_key)), capacity_(std::max<size_t>(capacity, 1)),
      created_at_(created_at) {}

bool Channel::take(ChannelDirection side) {
  std::lock_guard lock(mu_);
  bool& taken = side == ChannelDirection::kRead ? reader_taken_ : writer_taken_;
  if (taken) return false;
  taken = true;
  return true;
}

bool Channel::both_taken() const {
  std::lock_guard lock(mu_);
  return reader_taken_ && writer_taken_;
}

Channel::WriteState Channel::writable(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  if (closed_ || reader_gone_) return WriteState::kGone;
  if (!full_locked()) return WriteState::kReady;
  writer_wake_ = std::move(wake);
  return WriteState::kWait;
}

bool Channel::push(ChannelItem item) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (closed_ || reader_gone_ || finished_) return false;
    queued_bytes_ += item.data.size();
    queue_.push_back(std::move(item));
    wake = std::move(reader_wake_);
    reader_wake_ = nullptr;
  }
  if (wake) wake();
  return true;
}

void Channel::finish() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    wake = std::move(reader_wake_);
    reader_wake_ = nullptr;
  }
  if (wake) wake();
}

void Channel::on_reader_gone(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!closed_ && !reader_gone_) {
      reader_gone_watch_ = std::move(fn);
      return;
    }
  }
  if (fn) fn();
}

Channel::ReadState Channel::pop(ChannelItem& out, std::function<void()> wake) {
  std::function<void()> writer_wake;
  {
    std::lock_guard lock(mu_);
    if (closed_ || reader_gone_) return ReadState::kEnd;
    if (queue_.empty()) {
      if (finished_) return ReadState::kEnd;
      reader_wake_ = std::move(wake);
      return ReadState::kWait;
    }
    const bool was_full = full_locked();
    out = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= out.data.size();
    if (was_full && !full_locked()) {
      writer_wake = std::move(writer_wake_);
      writer_wake_ = nullptr;
    }
  }
  if (writer_wake) writer_wake();
  return ReadState::kItem;
}

Channel::Wakeups Channel::end_locked(std::deque<ChannelItem>& dropped) {
  dropped.swap(queue_);
  queued_bytes_ = 0;
  return Wakeups{std::exchange(writer_wake_, nullptr), std::exchange(reader_wake_, nullptr),
                 std::exchange(reader_gone_watch_, nullptr)};
}

// Ends the channel once, setting `flag` (closed_ or reader_gone_): queued items are dropped, the
// writer and whoever watches for the reader going are woken, and the reader too unless it is the
// one leaving.
void Channel::finish(bool Channel::*flag, bool wake_reader) {
  Wakeups wake;
  std::deque<ChannelItem> dropped;
  {
    std::lock_guard lock(mu_);
    if (this->*flag) return;
    this->*flag = true;
    wake = end_locked(dropped);
  }
  if (wake.writer) wake.writer();
  if (wake_reader && wake.reader) wake.reader();
  if (wake.reader_gone) wake.reader_gone();
}

void Channel::abandon() { finish(&Channel::reader_gone_, false); }

bool Channel::reader_gone() const {
  std::lock_guard lock(mu_);
  return reader_gone_;
}

void Channel::close() { finish(&Channel::closed_, true); }

bool Channel::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t Channel::queued_items() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t Channel::queued_bytes() const {
  std::lock_guard lock(mu_);
  return queued_bytes_;
}

std::string channel_ref_json(const Channel& channel, ChannelDirection direction) {
  FrameWriter w(128);
  w.string("channel_id", channel.id());
  w.string("access_key", channel.access_key());
  w.string("direction", std::string_view(direction == ChannelDirection::kRead ? "read" : "write"));
  return w.finish();
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// --- ChannelHub ---

ChannelHub::ChannelHub() : ChannelHub(Options{}) {}

ChannelHub::ChannelHub(Options options) : options_(options), last_sweep_(Clock::now()) {}

std::shared_ptr<Channel> ChannelHub::create(size_t buffer_size) {
  buffer_size = std::clamp<size_t>(buffer_size, 1, kMaxBufferSize);
  auto channel = std::make_shared<Channel>(new_uuid(), new_secret_uuid(), buffer_size, Clock::now());
  std::lock_guard lock(mu_);
  channels_.insert_or_assign(channel->id(), channel);
  return channel;
}

std::shared_ptr<Channel> ChannelHub::find(std::string_view id, std::string_view access_key) const {
  std::shared_ptr<Channel> channel;
  {
    std::lock_guard lock(mu_);
    auto it = channels_.find(id);
    if (it == channels_.end()) return nullptr;
    channel = it->second;
  }
  return constant_time_equal(channel->access_key(), access_key) ? channel : nullptr;
}

void ChannelHub::remove(std::string_view id) {
  std::lock_guard lock(mu_);
  if (auto it = channels_.find(id); it != channels_.end()) channels_.erase(it);
}

size_t ChannelHub::size() const {
  std::lock_guard lock(mu_);
  return channels_.size();
}

void ChannelHub::tick(Clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (now - last_sweep_ < options_.sweep_interval) return;
    last_sweep_ = now;
  }
  if (size_t n = sweep(now)) spdlog::info("swept {} channel(s) whose sides did not both connect in time", n);
}

size_t ChannelHub::sweep(Clock::time_point now) {
  std::vector<std::shared_ptr<Channel>> stale;
  {
    std::lock_guard lock(mu_);
    boost::unordered::erase_if(channels_, [&](const auto& entry) {
      const std::shared_ptr<Channel>& ch = entry.second;
      if (now - ch->created_at() <= options_.ttl || ch->both_taken()) return false;
      stale.push_back(ch);
      return true;
    });
  }
  for (auto& ch : stale) ch->close();  // outside the lock: wakes run sockets' code
  return stale.size();
}

void ChannelHub::close_all() {
  StringMap<std::shared_ptr<Channel>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(channels_);
  }
  for (auto& [id, ch] : all) ch->close();
}

}  // namespace iii
