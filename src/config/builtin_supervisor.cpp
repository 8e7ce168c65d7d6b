#include "config/builtin_supervisor.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

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

void BuiltinSupervisor::launch(const std::string& instance_id, const WorkerEntry& entry,
                               std::unique_ptr<BuiltinWorker> worker) {
  engine_.add_in_process_worker(worker->endpoint());
  try {
    worker->start();
  } catch (const std::exception& e) {
    engine_.detach(worker->endpoint());
    throw std::runtime_error("worker `" + entry.written_name + "` (" + entry.file + ":" + std::to_string(entry.line) +
                             ") could not start: " + e.what());
  }
  spdlog::info("built-in worker {} started", instance_id);
  running_[instance_id] = Running{entry.name, entry.config, std::move(worker)};
}

void BuiltinSupervisor::retire(Running& running) {
  running.worker->stop();
  engine_.detach(running.worker->endpoint());
}

void BuiltinSupervisor::start(const EngineConfig& config) {
  for (const WorkerEntry& entry : config.workers) {
    std::unique_ptr<BuiltinWorker> worker = create(entry);
    if (!worker) {
      spdlog::warn("{}:{}: worker `{}` is not supported by this engine yet; skipped", entry.file, entry.line,
                   entry.written_name);
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
  update_readiness(config);
}

void BuiltinSupervisor::update_readiness(const EngineConfig& config) {
  std::vector<std::string> not_running;
  for (const WorkerEntry& entry : config.workers)
    if (!running_.count(entry.instance_id)) not_running.push_back(entry.instance_id);
  readiness_->set(running(), std::move(not_running));
}

std::string BuiltinSupervisor::apply(const EngineConfig& config) {
  // 1. Validate: create every new or changed built-in before touching the running ones.
  std::map<std::string, std::pair<const WorkerEntry*, std::unique_ptr<BuiltinWorker>>> fresh;
  std::vector<std::string> unchanged;
  for (const WorkerEntry& entry : config.workers) {
    auto it = running_.find(entry.instance_id);
    if (it != running_.end() && it->second.name == entry.name && it->second.config == entry.config) {
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
    if (auto f = fresh.find(it->first); f != fresh.end() && f->second.first->name == it->second.name) {
      try {
        if (it->second.worker->reconfigure(*f->second.second)) {
          it->second.config = f->second.first->config;
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
  return summary;
}

void BuiltinSupervisor::stop_all() {
  for (auto& [id, running] : running_) retire(running);
  running_.clear();
}

std::vector<std::string> BuiltinSupervisor::running() const {
  std::vector<std::string> out;
  for (const auto& [id, r] : running_) out.push_back(id);
  return out;
}

}  // namespace iii::config
