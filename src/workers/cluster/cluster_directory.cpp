#include "workers/cluster/cluster_directory.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

#include "core/json_text.h"
#include "store/redis_subscriber.h"
#include "wire/json_writer.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kMembersKey = "iii:cluster:members";
constexpr const char* kEngineKeyPrefix = "iii:cluster:engine:";
constexpr const char* kVersionKeyPrefix = "iii:cluster:version:";
constexpr const char* kChangedChannel = "iii:cluster:changed";

std::string string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A raw-JSON field, "" when absent or null.
std::string raw_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && !v->is_null() ? json_text::serialize(*v) : std::string();
}

void check(const RedisReply& r, const RedisPool& pool) {
  if (r.is_error()) throw RedisError("redis " + pool.endpoint().address() + ": " + r.str);
}

}  // namespace

std::string announcement_json(const EngineAnnouncement& a) {
  std::string functions = "[";
  for (const AnnouncedFunction& f : a.functions) {
    if (functions.size() > 1) functions += ',';
    FrameWriter w(64 + f.id.size() + f.request_format.size() + f.response_format.size());
    w.string("id", f.id);
    if (!f.description.empty()) w.string("description", f.description);
    if (!f.request_format.empty()) w.raw("request_format", f.request_format);
    if (!f.response_format.empty()) w.raw("response_format", f.response_format);
    if (!f.metadata.empty()) w.raw("metadata", f.metadata);
    functions += w.finish();
  }
  functions += ']';
  std::string types = "[";
  for (const std::string& t : a.trigger_types) {
    if (types.size() > 1) types += ',';
    append_json_string(types, t);
  }
  types += ']';
  return FrameWriter(128 + functions.size() + types.size())
      .string("id", a.id)
      .string("name", a.name)
      .string("address", a.address)
      .raw("functions", functions)
      .raw("trigger_types", types)
      .finish();
}

std::optional<EngineAnnouncement> parse_announcement(std::string_view text) {
  std::optional<json::value> v = json_text::parse(text);
  if (!v || !v->is_object()) return std::nullopt;
  const json::object& o = v->get_object();
  EngineAnnouncement a{string_field(o, "id"), string_field(o, "name"), string_field(o, "address"), {}, {}};
  if (a.id.empty() || a.address.empty()) return std::nullopt;
  if (const json::value* fs = o.if_contains("functions"); fs && fs->is_array()) {
    for (const json::value& f : fs->get_array()) {
      if (!f.is_object()) continue;
      const json::object& fo = f.get_object();
      AnnouncedFunction af{string_field(fo, "id"), string_field(fo, "description"), raw_field(fo, "request_format"),
                           raw_field(fo, "response_format"), raw_field(fo, "metadata")};
      if (!af.id.empty()) a.functions.push_back(std::move(af));
    }
  }
  if (const json::value* ts = o.if_contains("trigger_types"); ts && ts->is_array()) {
    for (const json::value& t : ts->get_array())
      if (t.is_string()) a.trigger_types.emplace_back(t.get_string());
  }
  return a;
}

ClusterDirectory::ClusterDirectory(RedisEndpoint redis, std::string self_id, std::chrono::milliseconds lease,
                                   std::chrono::milliseconds heartbeat, Snapshot snapshot, PeersHandler on_peers)
    : self_id_(std::move(self_id)),
      self_key_(kEngineKeyPrefix + self_id_),
      self_version_key_(kVersionKeyPrefix + self_id_),
      lease_(lease),
      heartbeat_(heartbeat),
      snapshot_(std::move(snapshot)), on_peers_(std::move(on_peers)),
      // Every exchange is bounded well under the lease, so a slow Redis cannot make this engine
      // miss its own renewals by much.
      pool_(std::make_shared<RedisPool>(redis, 2, std::max(std::chrono::milliseconds(200), lease / 3))) {
  changes_ = std::make_shared<RedisSubscriber>(redis, [this](std::string_view, std::string_view from) {
    if (from == self_id_) return;
    std::lock_guard lock(mu_);
    peers_changed_ = true;
    wake_.notify_all();
  });
}

ClusterDirectory::~ClusterDirectory() { stop(); }

void ClusterDirectory::start() {
  changes_->subscribe(kChangedChannel);
  thread_ = std::thread([this] { run(); });
}

void ClusterDirectory::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  changes_.reset();
  try {  // withdraw: the others drop this engine now rather than when its lease runs out
    pool_->pipeline({{"DEL", self_key_, self_version_key_},
                     {"SREM", kMembersKey, self_id_},
                     {"PUBLISH", kChangedChannel, self_id_}});
  } catch (const RedisError&) {
  }
}

void ClusterDirectory::report(const std::exception& e) {
  if (failing_) return;
  failing_ = true;
  spdlog::warn("iii-cluster: {} (the engines already connected keep calling each other; new ones are not seen "
               "until Redis answers)",
               e.what());
}

void ClusterDirectory::announce(const VersionedAnnouncement& a, bool changed) {
  const std::string px = std::to_string(lease_.count());
  if (!changed) {  // renew the lease; false when the keys are gone (Redis restarted): write them again
    const auto replies = pool_->pipeline({{"PEXPIRE", self_key_, px}, {"PEXPIRE", self_version_key_, px},
                                          {"SADD", kMembersKey, self_id_}});
    for (const RedisReply& r : replies) check(r, *pool_);
    if (replies[0].integer == 1 && replies[1].integer == 1) return;
  }
  const std::string body = announcement_json(a.announcement), version = std::to_string(a.fingerprint);
  for (const RedisReply& r : pool_->pipeline({{"SET", self_key_, body, "PX", px},
                                              {"SET", self_version_key_, version, "PX", px},
                                              {"SADD", kMembersKey, self_id_},
                                              {"PUBLISH", kChangedChannel, self_id_}}))
    check(r, *pool_);
}

void ClusterDirectory::read_peers() {
  RedisReply members = pool_->run({"SMEMBERS", kMembersKey});
  check(members, *pool_);
  std::vector<std::string> ids, version_keys;
  for (const RedisReply& m : members.elements) {
    if (m.str == self_id_) continue;
    ids.push_back(m.str);
    version_keys.push_back(kVersionKeyPrefix + m.str);
  }
  std::map<std::string, AnnouncementPtr> next;
  if (!ids.empty()) {
    std::vector<std::string_view> mget{"MGET"};
    mget.insert(mget.end(), version_keys.begin(), version_keys.end());
    const RedisReply versions = pool_->run(mget);
    check(versions, *pool_);
    std::vector<std::string_view> gone{"SREM", kMembersKey};
    for (size_t i = 0; i < versions.elements.size() && i < ids.size(); ++i) {
      const RedisReply& v = versions.elements[i];
      if (v.type != RedisReply::Type::kString) {
        gone.push_back(ids[i]);  // its lease ran out
        continue;
      }
      auto known = peers_.find(ids[i]);
      if (known != peers_.end() && std::to_string(known->second->fingerprint) == v.str) {
        next.emplace(ids[i], known->second);  // unchanged: no need to fetch it
        continue;
      }
      const RedisReply body = pool_->run({"GET", kEngineKeyPrefix + ids[i]});
      check(body, *pool_);
      std::optional<EngineAnnouncement> a;
      if (body.type == RedisReply::Type::kString) a = parse_announcement(body.str);
      uint64_t fingerprint = 0;
      std::from_chars(v.str.data(), v.str.data() + v.str.size(), fingerprint);
      if (a) next.emplace(ids[i], std::make_shared<const VersionedAnnouncement>(VersionedAnnouncement{std::move(*a), fingerprint}));
    }
    if (gone.size() > 2) check(pool_->run(gone), *pool_);
  }
  peers_ = std::move(next);
  std::vector<AnnouncementPtr> peers;
  peers.reserve(peers_.size());
  for (const auto& [id, a] : peers_) peers.push_back(a);
  on_peers_(peers);
}

void ClusterDirectory::run() {
  using Steady = std::chrono::steady_clock;
  uint64_t announced = 0;
  bool ever_announced = false;
  Steady::time_point next_heartbeat{}, next_read{};
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool notified = peers_changed_;
    peers_changed_ = false;
    lock.unlock();
    try {
      const auto now = Steady::now();
      const AnnouncementPtr self = snapshot_();
      const bool changed = !ever_announced || self->fingerprint != announced;
      if (changed || now >= next_heartbeat) {
        announce(*self, changed);
        announced = self->fingerprint, ever_announced = true;
        next_heartbeat = now + heartbeat_;
      }
      if (notified || now >= next_read) {
        read_peers();
        next_read = now + heartbeat_;
      }
      if (failing_) spdlog::info("iii-cluster: redis {} answers again", pool_->endpoint().address());
      failing_ = false;
    } catch (const std::exception& e) {  // RedisError mostly; nothing may end this thread
      report(e);
      ever_announced = false;  // announce again as soon as it answers
    }
    lock.lock();
    wake_.wait_for(lock, kLocalPollEvery, [this] { return stopping_ || peers_changed_; });
  }
}

}  // namespace iii
