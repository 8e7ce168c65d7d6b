#include "workers/console/console_worker.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>

#include "net/http_server.h"
#include "net/ws_server.h"
#include "workers/console/console_config.h"
#include "workers/console/console_http.h"
#include "workers/console/console_live.h"

namespace iii {
namespace {

constexpr auto kRefreshEvery = std::chrono::seconds(1);

class ConsoleWorker final : public BuiltinWorker {
 public:
  ConsoleWorker(boost::asio::io_context& io, Engine& engine, ConsoleConfig config)
      : config_(std::move(config)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kConsoleWorkerName)),
        live_(std::make_shared<ConsoleLiveService>(engine, config_)),
        live_server_(io, live_),
        // The service may outlive this worker on a connection still open: it holds the port, not us.
        http_server_(io, std::make_shared<ConsoleHttpService>(engine, config_,
                                                              [port = live_port_] { return port->load(); })),
        ticker_(engine) {}

  ~ConsoleWorker() override { stop(); }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    live_server_.listen(config_.host, config_.live_port);
    live_port_->store(live_server_.port());
    try {
      http_server_.listen(config_.host, config_.port);
    } catch (...) {
      live_server_.stop();
      throw;
    }
    ticker_.start([weak = std::weak_ptr<ConsoleLiveService>(live_), last = Clock::time_point()](
                      Clock::time_point now) mutable {
      if (now - last < kRefreshEvery) return;
      last = now;
      if (auto live = weak.lock()) live->refresh();
    });
    spdlog::info("iii-console: http://{}:{}/ (live socket on port {}{})", config_.host, http_server_.port(),
                 live_server_.port(), config_.token.empty() ? "" : "; a token is required");
  }

  void stop() override {
    ticker_.stop();
    http_server_.stop();
    live_server_.stop();
  }

 private:
  const ConsoleConfig config_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<ConsoleLiveService> live_;
  std::shared_ptr<std::atomic<uint16_t>> live_port_ = std::make_shared<std::atomic<uint16_t>>(0);
  WsServer live_server_;
  HttpServer http_server_;
  WorkerTicker ticker_;
};

std::optional<std::string> process_env(std::string_view name) {
  if (const char* v = std::getenv(std::string(name).c_str()); v && *v) return std::string(v);
  return std::nullopt;
}

}  // namespace

BuiltinDescriptor console_builtin(boost::asio::io_context& io) {
  return {kConsoleWorkerName, {"console"}, [&io](BuiltinContext& context, const boost::json::value& config) {
            return std::make_unique<ConsoleWorker>(io, context.engine, parse_console_config(config, process_env));
          }};
}

}  // namespace iii
