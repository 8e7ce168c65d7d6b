// `iii`: with no subcommand, runs the engine; `iii trigger` calls a function (docs/config.md §10).
#include <cstdio>
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

#include <malloc.h>
#include <sys/resource.h>

#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>

#include "config/builtin_supervisor.h"
#include "config/config_watcher.h"
#include "config/engine_config.h"
#include "config/listener_set.h"
#include "cli/trigger_command.h"
#include "core/channel_hub.h"
#include "core/console_log.h"
#include "engine/engine.h"
#include "net/io_pool.h"
#include "net/worker_listener.h"
#include "workers/channels/channel_functions.h"
#include "workers/engine/engine_functions.h"
#include "workers/http/http_worker.h"
#include "workers/queue/queue_worker.h"
#include "workers/state/state_worker.h"
#include "workers/cron/cron_worker.h"
#include "workers/pubsub/pubsub_worker.h"
#include "workers/stream/stream_worker.h"
#include "workers/http_functions/http_functions_worker.h"
#include "workers/observability/observability_worker.h"
#include "workers/cluster/cluster_worker.h"
#include "workers/bridge/bridge_worker.h"
#include "workers/exec/exec_worker.h"
#include "workers/configuration/configuration_worker.h"
#include "workers/console/console_worker.h"

namespace {

struct EngineFlags {
  std::string config_path = "config.yaml";
  std::optional<uint16_t> port;
  std::optional<std::string> host;
  std::optional<uint32_t> invocation_timeout_ms;
  std::optional<size_t> max_frame_bytes;
  std::optional<size_t> max_json_depth;
  std::optional<std::string> log_level;  // absent: the observability block's level, or info
  unsigned threads = 0;
};

// Every built-in this engine can run, by name (docs/config.md §2.3).
std::vector<iii::BuiltinDescriptor> builtin_catalog(boost::asio::io_context& io, iii::ChannelHub& channels) {
  std::vector<iii::BuiltinDescriptor> catalog;
  catalog.push_back(iii::http_builtin(io, channels));
  catalog.push_back(iii::state_builtin());
  catalog.push_back(iii::queue_builtin());
  catalog.push_back(iii::cron_builtin());
  catalog.push_back(iii::pubsub_builtin());
  catalog.push_back(iii::stream_builtin(io));
  catalog.push_back(iii::http_functions_builtin(io));
  catalog.push_back(iii::observability_builtin(io));
  catalog.push_back(iii::cluster_builtin(io));
  catalog.push_back(iii::bridge_builtin());
  catalog.push_back(iii::exec_builtin());
  catalog.push_back(iii::configuration_builtin(io));
  catalog.push_back(iii::console_builtin(io));
  return catalog;
}

void apply_flags(const EngineFlags& flags, iii::config::EngineConfig& config) {
  // Command-line flags override the first listener and the engine options.
  if (flags.port) config.listeners.front().port = *flags.port;
  if (flags.host) config.listeners.front().host = *flags.host;
  if (flags.max_frame_bytes)
    for (auto& l : config.listeners) l.max_message_bytes = *flags.max_frame_bytes;
  if (flags.invocation_timeout_ms) config.engine.invocation_timeout = std::chrono::milliseconds(*flags.invocation_timeout_ms);
  if (flags.max_json_depth) config.max_json_depth = *flags.max_json_depth;
  // Access rules name their listener in log lines: by its address after the overrides.
  for (auto& l : config.listeners) {
    if (!l.access) continue;
    auto rules = std::make_shared<iii::AccessRules>(*l.access);
    rules->listener = l.host + ":" + std::to_string(l.port);
    l.access = std::move(rules);
  }
}

// Every worker and stream client is a socket: take the open-file limit the system allows (the
// soft limit is often 1,024, the hard one much higher), as servers of many connections do.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
    spdlog::debug("open-file limit raised from {} to {}", before, limit.rlim_cur);
}

// glibc hands a freed block above its mmap threshold (128 KiB, raised to the largest block freed
// so far) straight back to the kernel, and trims a free heap top above twice that, so every
// megabyte frame cost a fresh megabyte: its read buffer and the frame written on were
// page-faulted in and zeroed again each time (bench/README.md, "The 1 MB row"). Blocks up to 8 MiB
// now come from the heap and up to 8 MiB of free heap top is kept per arena for the next one; a
// fresh engine's memory is the same, and after a burst of big frames it keeps at most that much
// per busy thread. Bigger blocks still go straight back.
void keep_freed_memory_for_reuse() {
  constexpr int kReusedBlockBytes = 8 << 20;
  mallopt(M_MMAP_THRESHOLD, kReusedBlockBytes);
  mallopt(M_TRIM_THRESHOLD, kReusedBlockBytes);
}

int run_engine(const EngineFlags& flags) {
  keep_freed_memory_for_reuse();
  auto logger = spdlog::stderr_color_mt("iii");
  spdlog::set_default_logger(logger);
  if (flags.log_level) iii::console_log::pin_level(*flags.log_level);
  else spdlog::set_level(spdlog::level::info);
  raise_open_file_limit();

  namespace config = iii::config;
  const bool from_file = std::filesystem::exists(flags.config_path);
  config::EngineConfig cfg;
  try {
    cfg = from_file ? config::load_config_file(flags.config_path) : config::embedded_default();
  } catch (const config::ConfigError& e) {
    spdlog::error("bad config: {}", e.what());
    return 1;
  }
  if (!from_file) spdlog::info("no {} found: running on the embedded default config", flags.config_path);
  apply_flags(flags, cfg);

  const unsigned threads = flags.threads ? flags.threads : std::max(1u, std::thread::hardware_concurrency());
  // One event loop per thread, connections spread over them (net/io_pool.h); `io`, run by this
  // thread, carries the engine's tick, the built-ins' timers, signals and reloads, no connection.
  // The pool first: it outlives `io` and everything that holds a socket on its loops.
  iii::net::IoPool loops(threads);
  iii::net::EventLoop io;
  iii::ChannelHub channels;  // outlives the engine, whose ticker sweeps it
  iii::set_json_depth_limit(cfg.max_json_depth);
  iii::Engine engine(cfg.engine);
  engine.add_in_process_worker(iii::make_engine_functions_worker(engine));
  iii::add_channel_functions(engine, channels);

  // Built-ins first, so a worker that connects the moment the port opens finds state::*, etc.
  config::BuiltinSupervisor supervisor(engine, builtin_catalog(io, channels), std::filesystem::current_path());
  try {
    supervisor.start(cfg);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }

  config::ListenerSet listeners(io, engine, &channels);
  if (!listeners.reconcile(cfg.listeners).empty()) return 1;  // no worker could ever connect
  supervisor.start_deferred();  // iii-exec: its workers find the listener open

  // Hot reload and shutdown both change the running built-ins: one at a time, and no reload once
  // the shutdown began.
  std::mutex supervisor_mu;
  std::atomic<bool> shutting_down{false};

  // Hot reload: a valid new file is applied without dropping connected workers; an invalid one
  // is reported and the running config stays.
  std::unique_ptr<config::ConfigWatcher> watcher;
  if (from_file) {
    watcher = std::make_unique<config::ConfigWatcher>(io, flags.config_path, [&] {
      if (shutting_down) return;  // before the lock, which the shutdown holds for seconds
      std::lock_guard lock(supervisor_mu);
      if (shutting_down) return;
      try {
        config::EngineConfig next = config::load_config_file(flags.config_path);
        apply_flags(flags, next);
        spdlog::info("config reloaded ({})", supervisor.apply(next));
        listeners.reconcile(next.listeners);
        if (next.engine.invocation_timeout != cfg.engine.invocation_timeout)
          spdlog::warn("invocation_timeout_ms changes take effect at the next engine start");
        if (next.max_json_depth != cfg.max_json_depth)
          spdlog::warn("max_json_depth changes take effect at the next engine start");
      } catch (const std::exception& e) {
        spdlog::error("config reload rejected, the running config stays: {}", e.what());
      }
    });
    try {
      watcher->start();
    } catch (const std::exception& e) {
      spdlog::warn("hot reload disabled: {}", e.what());
    }
  }

  // The engine owns no threads: a timer drives its deadlines and periodic work.
  boost::asio::steady_timer ticker(io);
  std::function<void()> schedule_tick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      engine.tick(iii::Clock::now());
      schedule_tick();
    });
  };
  schedule_tick();

  // The built-ins stop while the sockets still run (on a thread of their own: iii-exec waits out
  // its children's grace), so that the workers iii-exec started see their connection close and
  // leave at once; then the event loop stops.
  // A second signal stops the loop at once.
  std::thread stopper;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (shutting_down.exchange(true)) {
      spdlog::warn("signal {} received again: the event loop stops now (built-ins still finish stopping)", signal);
      io.stop();
      return;
    }
    spdlog::info("signal {} received: shutting down", signal);
    signals.async_wait(on_signal);
    stopper = std::thread([&] {
      {
        std::lock_guard lock(supervisor_mu);
        supervisor.stop_all();
      }
      io.stop();
    });
  };
  signals.async_wait(on_signal);

  loops.start();
  io.run();
  loops.stop();  // no handler runs on any loop from here on
  if (stopper.joinable()) stopper.join();
  supervisor.stop_all();  // nothing left after a signal; everything when the loop ended otherwise
  // Handlers still queued on any loop are destroyed now, while every loop exists (net/io_pool.h).
  loops.shutdown_all(io);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef III_REQUIRES_AVX2
  // The JSON hot paths were compiled for the build machine's AVX2 (CMake III_HOST_SIMD).
  if (!__builtin_cpu_supports("x86-64-v3") || !__builtin_cpu_supports("pclmul")) {
    std::fprintf(stderr, "iii: this binary was built for CPUs with AVX2 (x86-64-v3) and this one lacks it; "
                         "rebuild on this machine or configure with -DIII_HOST_SIMD=OFF\n");
    return 1;
  }
#endif
  CLI::App app{"iii: one engine for every kind of backend worker"};
  app.set_version_flag("-v,--version", III_VERSION);
  EngineFlags flags;
  app.add_option("-c,--config", flags.config_path, "Config file (default config.yaml; embedded default when absent)");
  app.add_option("--port", flags.port, "Worker WebSocket port (overrides the config)");
  app.add_option("--host", flags.host, "Worker WebSocket bind address (overrides the config)");
  app.add_option("--invocation-timeout-ms", flags.invocation_timeout_ms, "Engine-side deadline for every call (default 30000)")
      ->check(CLI::Range(uint32_t{1}, std::numeric_limits<uint32_t>::max()));
  app.add_option("--max-frame-bytes", flags.max_frame_bytes, "Largest inbound WebSocket message (default 67108864)");
  app.add_option("--max-json-depth", flags.max_json_depth, "Deepest JSON nesting accepted in frames and values (default 128)")
      ->check(CLI::Range(size_t{1}, iii::kMaxJsonDepth));
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn or error (default: the iii-observability block's level, or info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--threads", flags.threads, "Event loops for connections, one thread each (default: one per core)");
  auto trigger = iii::cli::add_trigger_command(app);
  CLI11_PARSE(app, argc, argv);
  if (trigger->selected()) return trigger->run();
  return run_engine(flags);
}
