#include "workers/cluster/cluster_directory.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "store/redis_subscriber.h"
#include "wire/json_writer.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr const char* kMembersKey = "iii:cluster:members";
constexpr const char* kEngineKeyPrefix = "iii:cluster:engine:";
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
    : self_id_(std::move(self_id)), self_key_(kEngineKeyPrefix + self_id_), lease_(lease), heartbeat_(heartbeat),
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
    pool_->pipeline({{"DEL", self_key_}, {"SREM", kMembersKey, self_id_}, {"PUBLISH", kChangedChannel, self_id_}});
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

void ClusterDirectory::announce(const EngineAnnouncement& a, bool changed) {
  const std::string body = announcement_json(a), px = std::to_string(lease_.count());
  std::vector<std::vector<std::string_view>> commands{{"SET", self_key_, body, "PX", px},
                                                      {"SADD", kMembersKey, self_id_}};
  if (changed) commands.push_back({"PUBLISH", kChangedChannel, self_id_});
  for (const RedisReply& r : pool_->pipeline(commands)) check(r, *pool_);
}

void ClusterDirectory::read_peers() {
  RedisReply members = pool_->run({"SMEMBERS", kMembersKey});
  check(members, *pool_);
  std::vector<std::string> keys;
  std::vector<std::string_view> ids;
  for (const RedisReply& m : members.elements) {
    if (m.str == self_id_) continue;
    keys.push_back(kEngineKeyPrefix + m.str);
    ids.push_back(m.str);
  }
  std::vector<EngineAnnouncement> peers;
  if (!keys.empty()) {
    std::vector<std::string_view> mget{"MGET"};
    mget.insert(mget.end(), keys.begin(), keys.end());
    const RedisReply values = pool_->run(mget);
    check(values, *pool_);
    std::vector<std::string_view> gone{"SREM", kMembersKey};
    for (size_t i = 0; i < values.elements.size() && i < ids.size(); ++i) {
      const RedisReply& v = values.elements[i];
      if (v.type != RedisReply::Type::kString) {
        gone.push_back(ids[i]);  // its lease ran out
        continue;
      }
      if (std::optional<EngineAnnouncement> a = parse_announcement(v.str)) peers.push_back(std::move(*a));
    }
    if (gone.size() > 2) check(pool_->run(gone), *pool_);
  }
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
      auto [self, fingerprint] = snapshot_();
      const bool changed = !ever_announced || fingerprint != announced;
      if (changed || now >= next_heartbeat) {
        announce(self, changed);
        announced = fingerprint, ever_announced = true;
        next_heartbeat = now + heartbeat_;
      }
      if (notified || now >= next_read) {
        read_peers();
        next_read = now + heartbeat_;
      }
      if (failing_) spdlog::info("iii-cluster: redis {} answers again", pool_->endpoint().address());
      failing_ = false;
    } catch (const RedisError& e) {
      report(e);
      ever_announced = false;  // announce again as soon as it answers
    }
    lock.lock();
    wake_.wait_for(lock, kLocalPollEvery, [this] { return stopping_ || peers_changed_; });
  }
}

}  // namespace iii
