// The shape every built-in worker shares (docs/architecture.md: one folder per built-in under
// src/workers/, each with a README.md).
//
// A built-in is created from its `config:` block by a factory registered in the BuiltinCatalog,
// exposes an InProcessWorker that the engine registers like any other worker, and may start and
// stop background work. Factories validate their block strictly and throw BuiltinConfigError
// naming the offending key; the config loader adds the file and line.
#pragma once
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <optional>

#include "engine/engine.h"
#include "engine/in_process_worker.h"

namespace iii {

// Where `bridge` adapters and iii-bridge connect when their config names no URL.
inline constexpr const char* kDefaultBridgeUrl = "ws://localhost:49134";

struct BuiltinConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BuiltinWorker {
 public:
  virtual ~BuiltinWorker() = default;
  // The endpoint that carries this worker's functions and trigger types.
  virtual std::shared_ptr<InProcessWorker> endpoint() = 0;
  // Starts background work (listeners, timers). Called once every built-in is registered.
  // Throws std::runtime_error when it cannot start (e.g. a port in use, an unwritable directory).
  virtual void start() {}
  // Stops background work. Called at shutdown and before a hot reload replaces the worker.
  virtual void stop() {}
  // Hot reload of a changed block: applies the config of `fresh` (a worker the same factory
  // just created from the new block, never started) to this running worker in place, keeping
  // what it can (connected clients). False: not supported, and the supervisor replaces the
  // worker instead. Throws std::runtime_error when the change cannot be applied; the worker then
  // keeps running as it was.
  virtual bool reconfigure(BuiltinWorker& fresh) {
    (void)fresh;
    return false;
  }
};

// A built-in whose work is a service over a store (state, queue): start() opens the store — the
// one given at construction (tests), else open_store(config) for the one its config names — and
// hands it to the service's open(); stop() calls the service's close().
template <class Service, class Config, class Store>
class StoreBackedWorker : public BuiltinWorker {
 public:
  // Opens the store `config` names; throws std::runtime_error when it cannot.
  using StoreOpener = std::shared_ptr<Store> (*)(const Config& config);

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }
  void start() override { service_->open(given_store_ ? given_store_ : open_store_(service_->config())); }
  void stop() override { service_->close(); }

 protected:
  StoreBackedWorker(std::shared_ptr<Service> service, std::shared_ptr<InProcessWorker> endpoint,
                    std::shared_ptr<Store> given_store, StoreOpener open_store)
      : service_(std::move(service)),
        endpoint_(std::move(endpoint)),
        given_store_(std::move(given_store)),
        open_store_(open_store) {}

  const std::shared_ptr<Service> service_;
  const std::shared_ptr<InProcessWorker> endpoint_;

 private:
  const std::shared_ptr<Store> given_store_;
  const StoreOpener open_store_;
};

// Whether every built-in the config names is running (for GET /readyz): the supervisor keeps it.
class BuiltinReadiness {
 public:
  // Ready, and a JSON object {"ready":…,"running":[…],"not_running":[…]}.
  std::pair<bool, std::string> report() const;
  void set(std::vector<std::string> running, std::vector<std::string> not_running);

 private:
  mutable std::mutex mu_;
  bool set_ = false;
  std::vector<std::string> running_, not_running_;
};

// What a factory may use besides its config block.
struct BuiltinContext {
  Engine& engine;
  std::filesystem::path working_dir;  // relative paths in config blocks resolve against it
  std::shared_ptr<const BuiltinReadiness> readiness = nullptr;  // may be null (tests)
  std::string instance_id = {};  // `iii-exec`, `iii-exec#1`, … (docs/config.md §2.2); may be empty (tests)
};

using BuiltinFactory = std::function<std::unique_ptr<BuiltinWorker>(BuiltinContext&, const boost::json::value& config)>;

struct BuiltinDescriptor {
  std::string name;                  // canonical name, e.g. "iii-state"
  std::vector<std::string> aliases;  // e.g. {"state"}
  BuiltinFactory factory;
  // At engine start, started only once the worker listeners are open (BuiltinSupervisor::
  // start_deferred): iii-exec, whose processes connect to them as workers.
  bool after_listeners = false;
};

// A built-in's periodic work, registered with the engine at most once: start() while running is
// ignored; stop() and destruction remove it. `fn` should hold what it touches weakly: it may run
// once more while a stop() races with a tick on another thread.
class WorkerTicker {
 public:
  explicit WorkerTicker(Engine& engine) : engine_(engine) {}
  ~WorkerTicker() { stop(); }
  WorkerTicker(const WorkerTicker&) = delete;
  WorkerTicker& operator=(const WorkerTicker&) = delete;

  void start(Ticker fn);
  void stop();
  bool running() const { return id_.has_value(); }

 private:
  Engine& engine_;
  std::optional<TickerId> id_;
};

// The handler of a trigger type served by `provider` (anything with
// `std::optional<ErrorBody> activate(const TriggerBinding&)` and `void deactivate(const TriggerBinding&)`).
// The provider is held weakly, because the engine may still call the handler after the built-in
// owning it has been retired by a reload: activations are then refused with "<worker> is shutting
// down" and deactivations ignored.
template <class Provider>
TriggerTypeHandler weakly_served(const std::shared_ptr<Provider>& provider, std::string worker_name) {
  std::weak_ptr<Provider> weak = provider;
  return TriggerTypeHandler{
      [weak, name = std::move(worker_name)](const TriggerBinding& binding) -> std::optional<ErrorBody> {
        if (auto p = weak.lock()) return p->activate(binding);
        return ErrorBody{codes::kTriggerRegistrationFailed, name + " is shutting down", std::nullopt};
      },
      [weak](const TriggerBinding& binding) {
        if (auto p = weak.lock()) p->deactivate(binding);
      },
  };
}

// A shared_ptr that one thread may replace while others read it: what a built-in swaps at start,
// stop or reload (its store, its config). Readers keep what get() returned for the duration of
// one call, so a swap never pulls an object out from under a call.
template <class T>
class SharedSlot {
 public:
  explicit SharedSlot(std::shared_ptr<T> value = nullptr) : value_(std::move(value)) {}
  std::shared_ptr<T> get() const {
    std::lock_guard lock(mu_);
    return value_;
  }
  void set(std::shared_ptr<T> value) {
    std::lock_guard lock(mu_);
    value_.swap(value);  // the old one is released outside the lock
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<T> value_;
};

// Where a file_based store keeps its SQLite database: `file_path` itself, or `name` inside it when
// it names an existing directory (the official engine's kv layout is one file per scope in a
// directory).
std::filesystem::path database_file_at(const std::filesystem::path& file_path, std::string_view name);

// Whether `url` is a ws:// or wss:// URL with a host.
bool is_ws_url(std::string_view url);

// Helpers for strict config parsing: every key must be known.
// REQUIRES: `config` is null or an object; throws BuiltinConfigError otherwise.
void require_known_keys(const boost::json::value& config, std::string_view worker,
                        std::initializer_list<std::string_view> known);

// Strict readers for the values of one built-in's config block. Every error is a
// BuiltinConfigError reading "<worker>: `<key>` <why>", `key` being the path in the block
// ("adapter.config.file_path").
class ConfigReader {
 public:
  constexpr explicit ConfigReader(std::string_view worker) : worker_(worker) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const;
  // A whole number in [min, max]; integral doubles (as some YAML loaders produce) are accepted.
  uint64_t integer(const boost::json::value& v, const std::string& key, uint64_t min, uint64_t max) const;
  std::string string(const boost::json::value& v, const std::string& key) const;
  // The value of `key` in `o`, or null when absent or JSON null.
  static const boost::json::value* field(const boost::json::object& o, std::string_view key);

  // An `adapter: {name, config}` block: a mapping with only those keys and a string `name`
  // (`supported` lists the adapters in the error when it is missing). `config` is JSON null when
  // absent; choosing and reading the adapter is the caller's.
  struct Adapter {
    std::string name;
    const boost::json::value& config;
  };
  Adapter adapter(const boost::json::value& block, std::string_view supported) const;

  // The `adapter` block of state and stream: `kv`, `redis` or `bridge`. A `redis` config is read
  // by redis_url() and sets `redis_url`; a `bridge` config by bridge_url(), setting `bridge_url`. A `kv`
  // config: `store_method` in_memory (default) or file_based, `file_path` (relative to
  // `working_dir`; `default_path` when absent) and `save_interval_ms` (range-checked, unused:
  // writes are on disk before they return); `known` lists every key it may have, the caller
  // reads the ones beyond these three from `config`. `what` names the worker's kind in errors
  // ("state").
  struct KvAdapter {
    bool file_based = false;
    std::filesystem::path file_path;  // absolute
    std::optional<std::string> redis_url;  // set for `redis`
    std::optional<std::string> bridge_url;  // set for `bridge`
    const boost::json::value* config = nullptr;  // the adapter's config (JSON null when absent)

    // Sets `storage` (an enum with kInMemory, kFileBased, kRedis and kBridge) and `file_path`,
    // `redis_url` or `bridge_url` of a worker's config.
    template <class Config>
    void apply_to(Config& out) const {
      using Storage = typename Config::Storage;
      if (bridge_url) {
        out.storage = Storage::kBridge;
        out.bridge_url = *bridge_url;
        return;
      }
      if (redis_url) {
        out.storage = Storage::kRedis;
        out.redis_url = *redis_url;
        return;
      }
      out.storage = file_based ? Storage::kFileBased : Storage::kInMemory;
      out.file_path = file_path;
    }
  };
  KvAdapter kv_adapter(const boost::json::value& adapter_block, std::string_view what,
                       std::initializer_list<std::string_view> known, std::string_view default_path,
                       const std::filesystem::path& working_dir) const;

  // The config of a `redis` adapter: `redis_url` (default redis://localhost:6379), a URL that
  // RedisEndpoint::parse accepts. Returns it.
  std::string redis_url(const boost::json::value& adapter_config) const;
  // The config of a `bridge` adapter: `bridge_url` (default kDefaultBridgeUrl), a ws(s):// URL of
  // the engine whose functions do the work (docs/builtins.md §10). Returns it.
  std::string bridge_url(const boost::json::value& adapter_config) const;
  // A string that is a ws:// or wss:// URL with a host.
  std::string ws_url(const boost::json::value& v, const std::string& key) const;

 private:
  std::string_view worker_;
};

}  // namespace iii
