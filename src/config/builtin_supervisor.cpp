#include "config/builtin_supervisor.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "config/builtin_config_schemas.h"
#include "core/json_text.h"
#include "workers/configuration/configuration_service.h"
#include "workers/configuration/configuration_worker.h"

namespace iii::config {

BuiltinSupervisor::BuiltinSupervisor(Engine& engine, std::vector<BuiltinDescriptor> catalog,
                                     std::filesystem::path working_dir)
    : engine_(engine), catalog_(std::move(catalog)), working_dir_(std::move(working_dir)) {}

BuiltinSupervisor::~BuiltinSupervisor() { stop_all(); }

const BuiltinDescriptor* BuiltinSupervisor::find(const std::string& name) const {
  for (const auto& d : catalog_) {
    if (d.name == name) return &d;
    for (const auto& alias : d.aliases)
      if (alias == name) return &d;
  }
  return nullptr;
}

std::unique_ptr<BuiltinWorker> BuiltinSupervisor::create(const WorkerEntry& entry) {
  const BuiltinDescriptor* descriptor = find(entry.name);
  if (!descriptor) return nullptr;
  BuiltinContext context{engine_, working_dir_, readiness_, entry.instance_id};
  try {
    return descriptor->factory(context, entry.config);
  } catch (const BuiltinConfigError& e) {
    throw ConfigError(entry.file + ":" + std::to_string(entry.line) + ": " + e.what());
  }
}

void BuiltinSupervisor::start_worker(BuiltinWorker& worker) {
  engine_.add_in_process_worker(worker.endpoint());
  try {
    worker.start();
  } catch (const std::exception&) {
    engine_.detach(worker.endpoint());
    throw;
  }
}

void BuiltinSupervisor::launch(const std::string& instance_id, const WorkerEntry& entry,
                               std::unique_ptr<BuiltinWorker> worker) {
  try {
    start_worker(*worker);
  } catch (const std::exception& e) {
    throw std::runtime_error("worker `" + entry.written_name + "` (" + entry.file + ":" + std::to_string(entry.line) +
                             ") could not start: " + e.what());
  }
  spdlog::info("built-in worker {} started", instance_id);
  running_[instance_id] = Running{entry, entry.config, std::move(worker)};
}

void BuiltinSupervisor::retire(Running& running) {
  running.worker->stop();
  engine_.detach(running.worker->endpoint());
}

void BuiltinSupervisor::start(const EngineConfig& config) {
  std::lock_guard lock(mu_);
  for (const WorkerEntry& entry : config.workers) {
    std::unique_ptr<BuiltinWorker> worker = create(entry);
    if (!worker) {
      spdlog::warn("{}:{}: worker `{}` is not supported by this engine yet; skipped", entry.file, entry.line,
                   entry.written_name);
      continue;
    }
    if (const BuiltinDescriptor* d = find(entry.name); d && d->after_listeners) {
      deferred_.push_back(Deferred{entry, std::move(worker)});
      continue;
    }
    // Like the reference engine, a worker that cannot start (a port in use) is reported and the
    // engine keeps running without it (docs/config.md §3.3).
    try {
      launch(entry.instance_id, entry, std::move(worker));
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
  }
  started_with_ = config;
  update_readiness(config);
  publish_blocks(nullptr);
}

void BuiltinSupervisor::start_deferred() {
  std::lock_guard lock(mu_);
  if (deferred_.empty()) return;
  std::set<std::string> started;
  for (Deferred& d : deferred_) {
    try {
      launch(d.entry.instance_id, d.entry, std::move(d.worker));
      started.insert(d.entry.instance_id);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
  }
  deferred_.clear();
  if (started_with_) update_readiness(*started_with_);
  publish_blocks(&started);
}

void BuiltinSupervisor::update_readiness(const EngineConfig& config) {
  std::vector<std::string> not_running;
  for (const WorkerEntry& entry : config.workers)
    if (!running_.count(entry.instance_id)) not_running.push_back(entry.instance_id);
  readiness_->set(running(), std::move(not_running));
}

std::string BuiltinSupervisor::apply(const EngineConfig& config) {
  std::lock_guard lock(mu_);
  // 1. Validate: create every new or changed built-in before touching the running ones. A block
  // that did not change in the file is left alone, even when configuration::set changed what
  // the built-in runs on (docs/builtins.md §0.3).
  std::map<std::string, std::pair<const WorkerEntry*, std::unique_ptr<BuiltinWorker>>> fresh;
  std::vector<std::string> unchanged;
  for (const WorkerEntry& entry : config.workers) {
    auto it = running_.find(entry.instance_id);
    if (it != running_.end() && it->second.entry.name == entry.name && it->second.entry.config == entry.config) {
      unchanged.push_back(entry.instance_id);
      continue;
    }
    std::unique_ptr<BuiltinWorker> worker = create(entry);
    if (!worker) {
      spdlog::warn("{}:{}: worker `{}` is not supported by this engine yet; skipped", entry.file, entry.line,
                   entry.written_name);
      continue;
    }
    fresh[entry.instance_id] = {&entry, std::move(worker)};
  }
  // 2. Reconfigure in place what can be (same worker, changed block); retire the rest of what
  // changed, and what disappeared.
  std::vector<std::string> changed, removed, added;
  std::string failures;
  for (auto it = running_.begin(); it != running_.end();) {
    const bool keep = std::find(unchanged.begin(), unchanged.end(), it->first) != unchanged.end();
    if (keep) {
      ++it;
      continue;
    }
    if (auto f = fresh.find(it->first); f != fresh.end() && f->second.first->name == it->second.entry.name) {
      try {
        if (it->second.worker->reconfigure(*f->second.second)) {
          it->second.entry = *f->second.first;
          it->second.live = it->second.entry.config;
          changed.push_back(it->first + " (in place)");
          fresh.erase(f);
          ++it;
          continue;
        }
      } catch (const std::exception& e) {
        spdlog::error("{}: {}", it->first, e.what());
        failures += std::string(failures.empty() ? "" : "; ") + it->first + ": " + e.what();
        fresh.erase(f);  // keeps running as it was
        ++it;
        continue;
      }
    }
    (fresh.count(it->first) ? changed : removed).push_back(it->first);
    retire(it->second);
    it = running_.erase(it);
  }
  // 3. Launch the new ones.
  for (auto& [id, pair] : fresh) {
    if (std::find(changed.begin(), changed.end(), id) == changed.end()) added.push_back(id);
    try {
      launch(id, *pair.first, std::move(pair.second));
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      failures += std::string(failures.empty() ? "" : "; ") + e.what();
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out.empty() ? std::string("-") : out;
  };
  std::string summary = "changed: " + join(changed) + "; added: " + join(added) + "; removed: " + join(removed);
  if (!failures.empty()) summary += "; failed to start: " + failures;
  update_readiness(config);
  std::set<std::string> touched(added.begin(), added.end());
  for (const std::string& id : changed) touched.insert(id.substr(0, id.find(' ')));  // "iii-stream (in place)"
  publish_blocks(&touched);
  return summary;
}

std::optional<ErrorBody> BuiltinSupervisor::set_block(const std::string& instance_id, const boost::json::value& block) {
  std::lock_guard lock(mu_);
  auto it = running_.find(instance_id);
  const BuiltinDescriptor* descriptor = it == running_.end() ? nullptr : find(it->second.entry.name);
  if (!descriptor) return ErrorBody{"ADAPTER_ERROR", instance_id + " is not running", std::nullopt};
  Running& running = it->second;
  BuiltinContext context{engine_, working_dir_, readiness_};
  std::unique_ptr<BuiltinWorker> fresh;
  try {
    fresh = descriptor->factory(context, block);
  } catch (const std::exception& e) {  // the block's own checks: nothing changed
    return ErrorBody{"SCHEMA_INVALID", e.what(), std::nullopt};
  }
  try {
    if (running.worker->reconfigure(*fresh)) {
      running.live = block;
      spdlog::info("built-in worker {} reconfigured in place (configuration::set)", instance_id);
      return std::nullopt;
    }
  } catch (const std::exception& e) {
    return ErrorBody{"ADAPTER_ERROR", instance_id + " keeps its previous config: " + e.what(), std::nullopt};
  }
  retire(running);
  try {
    start_worker(*fresh);
  } catch (const std::exception& e) {
    const std::string why = e.what();
    // Back to the block it ran on, which started before.
    try {
      std::unique_ptr<BuiltinWorker> previous = descriptor->factory(context, running.live);
      start_worker(*previous);
      running.worker = std::move(previous);
    } catch (const std::exception& again) {
      spdlog::error("built-in worker {} could not start again on its previous config: {}", instance_id, again.what());
      running_.erase(it);
    }
    return ErrorBody{"ADAPTER_ERROR", instance_id + " could not start with the new config (" + why +
                                          "); it runs on its previous one", std::nullopt};
  }
  running.worker = std::move(fresh);
  running.live = block;
  spdlog::info("built-in worker {} replaced (configuration::set)", instance_id);
  return std::nullopt;
}

void BuiltinSupervisor::publish_blocks(const std::set<std::string>* only) {
  std::shared_ptr<ConfigurationService> service;
  for (auto& [id, running] : running_)
    if ((service = configuration_service_of(*running.worker))) break;
  if (!service) return;
  if (service != published_to_.lock()) {  // a new configuration worker: all again
    published_.clear();
    only = nullptr;
  }
  published_to_ = service;
  std::set<std::string> now;
  for (auto& [id, running] : running_) {
    const BuiltinConfigSchema* published = builtin_config_schema(running.entry.name);
    if (!published || id != running.entry.name) continue;  // one entry per built-in: its first instance
    now.insert(id);
    // Left alone since the last time: its entry (maybe set since) stays as it is.
    if (only && !only->count(id) && published_.count(id)) continue;
    std::optional<boost::json::value> schema = json_text::parse(published->schema);
    if (!schema) continue;
    service->own(ConfigurationEntry{id, std::string(published->name), std::string(published->description),
                                    std::move(*schema), running.live, std::nullopt},
                 [this, id](const boost::json::value& block) { return set_block(id, block); });
  }
  for (const std::string& id : published_)
    if (!now.count(id)) service->disown(id);
  published_ = std::move(now);
}

void BuiltinSupervisor::stop_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, running] : running_) retire(running);
  running_.clear();
}

std::vector<std::string> BuiltinSupervisor::running() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, r] : running_) out.push_back(id);
  return out;
}

}  // namespace iii::config
