#include "cli/trigger_command.h"

#include <boost/json.hpp>
#include <chrono>
#include <iostream>

#include "cli/trigger_payload.h"
#include "iii/iii.h"

namespace iii::cli {
namespace {

using std::chrono::milliseconds;

class TriggerCommandImpl : public TriggerCommand {
 public:
  explicit TriggerCommandImpl(CLI::App& app) {
    command_ = app.add_subcommand("trigger", "Call a function through a running engine and print its result");
    command_->alias("t");
    command_->add_option("function_id", function_id_, "Function to call, e.g. math::add")->required();
    command_->add_option("payload", kv_tokens_, "key=value pairs (values are JSON when valid, else strings)");
    command_->add_option("--json", json_text_, "Payload as JSON text (an object when combined with key=value)");
    command_->add_option("--address", address_, "Engine host, or a full ws://host:port URL")
        ->capture_default_str();
    command_->add_option("--port", port_, "Engine WebSocket port")->capture_default_str();
    command_->add_option("--timeout-ms", timeout_ms_, "How long to wait for the result")->capture_default_str();
  }

  bool selected() const override { return command_->parsed(); }

  int run() override {
    auto built = build_trigger_payload(kv_tokens_, json_text_);
    if (!built.ok()) {
      std::cerr << "Error: " << built.error << "\n";
      return 1;
    }
    const milliseconds timeout(timeout_ms_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    WorkerOptions options;
    options.url = engine_url();
    options.name = "iii-cli:trigger";
    options.invocation_timeout = timeout;
    options.reconnect_initial_delay = milliseconds(200);
    options.reconnect_max_delay = milliseconds(2000);
    options.handler_threads = 1;
    options.quiet = true;  // run() reports connection problems itself
    Worker worker(options);

    if (!worker.wait_connected(timeout)) {
      std::string reason = worker.last_error();
      std::cerr << "Error: timed out after " << timeout_ms_ << "ms waiting for the engine at " << options.url
                << (reason.empty() ? "" : " (" + reason + ")")
                << ". Is the engine running at the given address and port?\n";
      return 1;
    }
    auto remaining = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    try {
      json::value result = worker.trigger({.function_id = function_id_,
                                           .payload = std::move(built.payload),
                                           .timeout = std::max(remaining, milliseconds(1))});
      worker.shutdown();
      if (!result.is_null()) std::cout << pretty_json(result) << std::endl;
      return 0;
    } catch (const InvocationError& e) {
      worker.shutdown();
      if (e.code() == "TIMEOUT") {
        std::cerr << "Error: timed out after " << timeout_ms_ << "ms waiting for " << function_id_
                  << " (no answer from the engine at " << options.url << ")\n";
        return 1;
      }
      json::object body{{"code", e.code()}, {"message", e.message()}, {"stacktrace", nullptr}};
      if (e.stacktrace()) body["stacktrace"] = *e.stacktrace();
      std::cerr << "Error: " << pretty_json(body) << std::endl;
      return 1;
    }
  }

 private:
  std::string engine_url() const {
    if (address_.rfind("ws://", 0) == 0 || address_.rfind("wss://", 0) == 0) return address_;
    bool bare_ipv6 = address_.find(':') != std::string::npos && address_.front() != '[';
    std::string host = bare_ipv6 ? "[" + address_ + "]" : address_;
    return "ws://" + host + ":" + std::to_string(port_);
  }

  CLI::App* command_ = nullptr;
  std::string function_id_;
  std::vector<std::string> kv_tokens_;
  std::optional<std::string> json_text_;
  std::string address_ = "localhost";
  uint16_t port_ = 49134;
  uint64_t timeout_ms_ = 30000;
};

}  // namespace

std::unique_ptr<TriggerCommand> add_trigger_command(CLI::App& app) {
  return std::make_unique<TriggerCommandImpl>(app);
}

}  // namespace iii::cli
