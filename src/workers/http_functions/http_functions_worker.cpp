#include "workers/http_functions/http_functions_worker.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <mutex>

#include "core/json_text.h"
#include "core/string_map.h"
#include "net/http_client.h"
#include "workers/http_functions/http_invocation.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr ConfigReader reader{kHttpFunctionsWorkerName};

std::optional<std::string> engine_env(const std::string& name) {
  if (const char* v = std::getenv(name.c_str())) return std::string(v);
  return std::nullopt;
}

HttpClientOptions client_options(const HttpFunctionsConfig& c) {
  HttpClientOptions o;
  o.max_idle_per_host = c.max_idle_connections_per_host;
  o.max_open_per_host = c.max_connections_per_host;
  o.max_response_bytes = c.max_response_bytes;
  return o;
}

// The registered functions and their calls. Handlers hold it weakly: after a reload retired it,
// calls fail with a clear error instead of reaching a stopped client.
class HttpFunctions : public std::enable_shared_from_this<HttpFunctions> {
 public:
  HttpFunctions(Engine& engine, boost::asio::io_context& io, HttpFunctionsConfig config)
      : engine_(engine), io_(io), config_(std::make_shared<const HttpFunctionsConfig>(std::move(config))),
        client_(std::make_shared<HttpClient>(io, client_options(*config_.get()))) {}

  void set_endpoint(std::shared_ptr<InProcessWorker> endpoint) { endpoint_ = std::move(endpoint); }

  void reconfigure(HttpFunctionsConfig config) {
    const bool pool_changed = config.max_idle_connections_per_host != config_.get()->max_idle_connections_per_host ||
                              config.max_connections_per_host != config_.get()->max_connections_per_host ||
                              config.max_response_bytes != config_.get()->max_response_bytes;
    if (pool_changed) client_.set(std::make_shared<HttpClient>(io_, client_options(config)));
    config_.set(std::make_shared<const HttpFunctionsConfig>(std::move(config)));
  }

  // A registration the engine handed over (after its own checks): validated, then registered.
  void add(FunctionEntry entry) {
    for (char c : entry.id)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        return refuse(entry, ErrorBody{"invalid_invocation", "the function id holds a control character", std::nullopt});
    const auto config = config_.get();
    auto parsed = parse_http_invocation(entry.invocation, config->security, engine_env);
    if (auto* error = std::get_if<ErrorBody>(&parsed)) return refuse(entry, *error);
    auto inv = std::make_shared<const HttpInvocation>(std::get<HttpInvocation>(std::move(parsed)));
    if (inv->url.host_is_ip || !config->security.block_private_ips) return install(std::move(entry), std::move(inv));
    // A name: every address it resolves to must be public, now and again at every call.
    client_.get()->check_host(inv->url.host, inv->url.port,
                              [config](const std::string& ip) { return check_address(config->security, ip); },
                              [self = shared_from_this(), entry = std::move(entry), inv](std::optional<std::string> why) mutable {
                                if (why) return self->refuse(entry, ErrorBody{"url_validation_failed", *why, std::nullopt});
                                self->install(std::move(entry), std::move(inv));
                              });
  }

  void call(const InProcessCall& call, Completion done) {
    std::shared_ptr<const Registered> fn;
    {
      std::lock_guard lock(mu_);
      if (auto it = functions_.find(call.function_id); it != functions_.end()) fn = it->second;
    }
    if (!fn) return done(Outcome::failure(codes::kFunctionNotFound, "Function " + call.function_id + " not found"));
    // The rules may have changed since the registration (a reload): the URL is checked again, and
    // every address the host resolves to now (net/http_client.h).
    const auto config = config_.get();
    auto checked = check_function_url(config->security, fn->invocation->url_text);
    if (auto* why = std::get_if<std::string>(&checked)) return done(Outcome::failure("url_validation_failed", *why));
    const HttpInvocation& inv = *fn->invocation;
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    HttpClientRequest request;
    request.method = inv.method;
    request.https = inv.url.https;
    request.host = inv.url.host;
    request.port = inv.url.port;
    request.target = inv.url.target;
    request.body = call.data;
    request.headers = http_call_headers(inv, call.function_id, call.invocation_id, now, call.traceparent, request.body);
    request.timeout = inv.timeout;
    request.check_address = [config](const std::string& ip) { return check_address(config->security, ip); };
    client_.get()->request(std::move(request), [done = std::move(done)](HttpClientResult result) {
      if (auto* e = std::get_if<HttpClientError>(&result)) {
        switch (e->kind) {
          case HttpClientError::Kind::kRefused: return done(Outcome::failure("url_validation_failed", e->message));
          case HttpClientError::Kind::kRequest: return done(Outcome::failure("http_request_failed", e->message));
          case HttpClientError::Kind::kResponse: return done(Outcome::failure("http_response_failed", e->message));
        }
      }
      const auto& response = std::get<HttpClientResponse>(result);
      done(map_http_response(response.status, response.body));
    });
  }

  void forget_owner(std::string_view worker_id) {
    std::lock_guard lock(mu_);
    boost::unordered::erase_if(functions_, [&](const auto& kv) { return kv.second->owner == worker_id; });
  }

  // Unregisters every function this worker delivers (the block was removed).
  void remove_all() {
    StringMap<std::shared_ptr<const Registered>> gone;
    {
      std::lock_guard lock(mu_);
      gone.swap(functions_);
    }
    for (const auto& [id, fn] : gone) engine_.unregister_function(id, fn->owner);
    client_.get()->close_idle();
  }

 private:
  struct Registered {
    std::shared_ptr<const HttpInvocation> invocation;
    std::string owner;  // the registering connection
  };

  void refuse(const FunctionEntry& entry, const ErrorBody& error) {
    spdlog::warn("worker {}: HTTP function {} refused: {}: {}", entry.owner->worker_id(), entry.id, error.code,
                 error.message);
  }

  void install(FunctionEntry entry, std::shared_ptr<const HttpInvocation> inv) {
    const std::string id = entry.id;
    const std::string owner = entry.owner->worker_id();
    {
      std::lock_guard lock(mu_);
      functions_.insert_or_assign(id, std::make_shared<const Registered>(Registered{inv, owner}));
    }
    if (!engine_.register_delivered_function(std::move(entry), endpoint_)) {
      forget_owner(owner);
      return;
    }
    spdlog::info("worker {}: function {} is HTTP endpoint {} {}", owner, id, inv->method, inv->url_text);
  }

  Engine& engine_;
  boost::asio::io_context& io_;
  SharedSlot<const HttpFunctionsConfig> config_;
  SharedSlot<HttpClient> client_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::mutex mu_;
  StringMap<std::shared_ptr<const Registered>> functions_;
};

class HttpFunctionsWorker final : public BuiltinWorker {
 public:
  HttpFunctionsWorker(Engine& engine, boost::asio::io_context& io, HttpFunctionsConfig config)
      : engine_(engine),
        config_(config),
        functions_(std::make_shared<HttpFunctions>(engine, io, std::move(config))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kHttpFunctionsWorkerName)) {
    functions_->set_endpoint(endpoint_);
    std::weak_ptr<HttpFunctions> weak = functions_;
    endpoint_->set_delivery_handler([weak](const InProcessCall& call, Completion done) {
      if (auto f = weak.lock()) return f->call(call, std::move(done));
      done(Outcome::failure("http_request_failed", "iii-http-functions is shutting down"));
    });
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    std::weak_ptr<HttpFunctions> weak = functions_;
    engine_.set_external_function_handler([weak](FunctionEntry entry) {
      if (auto f = weak.lock()) f->add(std::move(entry));
    });
    worker_events_ = engine_.subscribe_worker_events([weak](std::string_view event, std::string_view worker_id) {
      if (event != "worker_disconnected") return;
      if (auto f = weak.lock()) f->forget_owner(worker_id);
    });
  }

  void stop() override {
    engine_.unsubscribe_worker_events(worker_events_);
    engine_.set_external_function_handler({});
    functions_->remove_all();
  }

  bool reconfigure(BuiltinWorker& fresh) override {
    auto& next = static_cast<HttpFunctionsWorker&>(fresh);
    functions_->reconfigure(next.config_);
    config_ = next.config_;
    return true;
  }

 private:
  Engine& engine_;
  HttpFunctionsConfig config_;
  std::shared_ptr<HttpFunctions> functions_;
  std::shared_ptr<InProcessWorker> endpoint_;
  ListenerId worker_events_ = 0;
};

}  // namespace

HttpFunctionsConfig parse_http_functions_config(const json::value& config) {
  require_known_keys(config, kHttpFunctionsWorkerName,
                     {"security", "max_idle_connections_per_host", "max_connections_per_host", "max_response_bytes"});
  HttpFunctionsConfig out;
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  if (const json::value* s = ConfigReader::field(o, "security")) {
    if (!s->is_object()) reader.fail("security", std::string("must be a mapping, got ") + json_text::type_name(*s));
    for (const auto& [key, value] : s->get_object()) {
      const std::string path = "security." + std::string(key);
      if (value.is_null()) continue;
      if (key == "url_allowlist") {
        if (!value.is_array()) reader.fail(path, "must be a list of host patterns");
        out.security.url_allowlist.clear();
        for (const json::value& p : value.get_array()) out.security.url_allowlist.push_back(reader.string(p, path));
        if (out.security.url_allowlist.empty()) out.security.url_allowlist = {"*"};
      } else if (key == "block_private_ips" || key == "require_https") {
        if (!value.is_bool()) reader.fail(path, std::string("must be true or false, got ") + json_text::type_name(value));
        (key == "block_private_ips" ? out.security.block_private_ips : out.security.require_https) = value.get_bool();
      } else {
        reader.fail(path, "is not a security option (known: url_allowlist, block_private_ips, require_https)");
      }
    }
  }
  if (const json::value* v = ConfigReader::field(o, "max_idle_connections_per_host"))
    out.max_idle_connections_per_host = reader.integer(*v, "max_idle_connections_per_host", 0, 1024);
  if (const json::value* v = ConfigReader::field(o, "max_connections_per_host"))
    out.max_connections_per_host = reader.integer(*v, "max_connections_per_host", 1, 65536);
  if (const json::value* v = ConfigReader::field(o, "max_response_bytes"))
    out.max_response_bytes = reader.integer(*v, "max_response_bytes", 1024, uint64_t(1) << 30);
  return out;
}

BuiltinDescriptor http_functions_builtin(boost::asio::io_context& io) {
  return {kHttpFunctionsWorkerName, {}, [&io](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
            return std::make_unique<HttpFunctionsWorker>(context.engine, io, parse_http_functions_config(config));
          }};
}

}  // namespace iii
