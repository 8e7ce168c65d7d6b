// The cluster's directory in Redis: which engines are up, where they take calls, and which
// functions each one's workers provide (docs/architecture.md "Several engines"). Discovery only:
// calls never go through Redis.
//
//   iii:cluster:members          set of engine ids
//   iii:cluster:engine:<id>      that engine's announcement (JSON, below), with a lease: it
//                                expires `lease` after the last renewal
//   iii:cluster:version:<id>     its fingerprint (decimal), with the same lease
//   iii:cluster:changed          pub/sub channel: "an announcement changed, read again"
//
// An announcement: {"id","name","address","functions":[{"id","description","request_format",
// "response_format","metadata"}],"trigger_types":["http",…]}.
//
// A thread of its own renews this engine's lease every heartbeat (PEXPIRE: the announcement is
// written again, with a PUBLISH, only when its functions change), and reads the others' versions
// every heartbeat (at once after a PUBLISH), fetching an announcement only when its version
// changed — so the cost of a heartbeat does not grow with the number of functions. A member whose key has expired is removed from the set by whoever reads it. When Redis
// cannot be reached the last view is kept (engines already connected keep calling each other)
// and the failure is logged once until it recovers.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/in_process_worker.h"
#include "store/redis_connection.h"

namespace iii {

class RedisSubscriber;

// What an engine announces of each function: its id, description, formats and metadata.
using AnnouncedFunction = FunctionSpec;

struct EngineAnnouncement {
  std::string id, name, address;
  std::vector<AnnouncedFunction> functions;
  std::vector<std::string> trigger_types;
};

std::string announcement_json(const EngineAnnouncement& a);
// nullopt when `json` is not an announcement.
std::optional<EngineAnnouncement> parse_announcement(std::string_view json);

// An announcement with a fingerprint that changes when it does. Shared, never changed once made:
// a peer's stays the same object until that engine announces something else.
struct VersionedAnnouncement {
  EngineAnnouncement announcement;
  uint64_t fingerprint = 0;
};
using AnnouncementPtr = std::shared_ptr<const VersionedAnnouncement>;

class ClusterDirectory {
 public:
  // This engine's announcement as of now (polled every kLocalPollEvery: keep it cheap).
  using Snapshot = std::function<AnnouncementPtr()>;
  // The other engines, after every read (from the directory's thread).
  using PeersHandler = std::function<void(const std::vector<AnnouncementPtr>&)>;

  ClusterDirectory(RedisEndpoint redis, std::string self_id, std::chrono::milliseconds lease,
                   std::chrono::milliseconds heartbeat, Snapshot snapshot, PeersHandler on_peers);
  ~ClusterDirectory();  // stop()

  void start();
  // Withdraws this engine's announcement (so the others drop it at once) and joins the thread.
  void stop();

  // How often the thread looks for changes of this engine's functions.
  static constexpr auto kLocalPollEvery = std::chrono::milliseconds(100);

 private:
  void run();
  // Writes (changed) or renews this engine's announcement.
  void announce(const VersionedAnnouncement& a, bool changed);
  void read_peers();
  void report(const std::exception& e);

  const std::string self_id_, self_key_, self_version_key_;
  std::map<std::string, AnnouncementPtr> peers_;  // by engine id, as last read (directory thread only)
  const std::chrono::milliseconds lease_, heartbeat_;
  Snapshot snapshot_;
  PeersHandler on_peers_;
  std::shared_ptr<RedisPool> pool_;
  std::shared_ptr<RedisSubscriber> changes_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false, peers_changed_ = false;
  bool failing_ = false;  // the last Redis exchange failed (logged once)
  std::thread thread_;
};

}  // namespace iii
