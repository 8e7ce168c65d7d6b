#include "workers/console/console_http.h"

#include <boost/json.hpp>

#include <atomic>

#include "engine/engine.h"
#include "core/ascii.h"
#include "core/request_target.h"
#include "wire/json_writer.h"
#include "workers/console/console_access.h"
#include "workers/console/console_assets.h"
#include "workers/http/http_response_mapping.h"

namespace iii {
namespace {

constexpr std::string_view kJson = "application/json";

std::string error_json(std::string_view message) {
  std::string body = "{\"error\":";
  append_json_string(body, message);
  body += '}';
  return body;
}

std::string_view header(const HttpRequestView& request, std::string_view name) {
  if (!request.headers) return {};
  for (const HttpHeaderView& h : *request.headers)
    if (ascii_iequals(h.name, name)) return h.value;
  return {};
}

// An exchange whose answer may come later (an engine call); abort() makes a late answer a no-op.
class ConsoleExchange final : public HttpServerExchange {
 public:
  void abort() override { aborted = true; }
  std::atomic<bool> aborted{false};
};

void reply(const std::shared_ptr<HttpTransport>& transport, int status, std::string_view type, std::string_view body,
           HttpExchangeOptions options, bool head = false) {
  HttpTransport& t = *transport;
  t.write(console_response(status, type, body, options.keep_alive, options.http10, head),
          [transport, keep_alive = options.keep_alive](bool ok) { transport->finish(ok && keep_alive); });
}

}  // namespace

std::string console_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                             bool http10, bool head) {
  std::string out;
  out.reserve(256 + (head ? 0 : body.size()));
  out += "HTTP/1.1 " + std::to_string(status) + ' ' + std::string(reason_phrase(status)) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n";
  out += "Referrer-Policy: no-referrer\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  else if (http10) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

ConsoleHttpService::ConsoleHttpService(Engine& engine, ConsoleConfig config, std::function<uint16_t()> live_port)
    : engine_(engine), config_(std::move(config)), live_port_(std::move(live_port)) {}

std::string ConsoleHttpService::refusal(int status) const {
  return console_response(status, kJson, error_json(reason_phrase(status)), false, false);
}

std::shared_ptr<HttpServerExchange> ConsoleHttpService::start(std::shared_ptr<HttpTransport> transport,
                                                              const HttpRequestView& request,
                                                              HttpExchangeOptions options) {
  auto exchange = std::make_shared<ConsoleExchange>();
  const std::string_view path = target_path(request.target);
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (!path.starts_with("/api/")) {
    if (!get) {
      reply(transport, 405, kJson, error_json("method not allowed"), options);
      return exchange;
    }
    const ConsoleAsset* asset = find_console_asset(path);
    // A page path (/workers, /functions/x) is the single-page app; a missing file is a 404.
    if (!asset && path.find('.') == std::string_view::npos) asset = find_console_asset("/index.html");
    if (!asset) reply(transport, 404, kJson, error_json("not found"), options, request.method == "HEAD");
    else reply(transport, 200, asset->content_type, asset->bytes, options, request.method == "HEAD");
    return exchange;
  }

  const bool token_required = !config_.token.empty();
  if (!same_site(header(request, "host"), header(request, "origin"), !token_required && is_loopback_host(config_.host))) {
    reply(transport, 403, kJson, error_json("requests from another site are refused"), options);
    return exchange;
  }
  const std::string token =
      request_token(header(request, "authorization"), header(request, "cookie"), target_query(request.target));
  if (!token_matches(config_.token, token)) {
    reply(transport, 401, kJson, error_json("this console requires its token"), options);
    return exchange;
  }
  if (path == "/api/session") {
    if (!get) {
      reply(transport, 405, kJson, error_json("method not allowed"), options);
      return exchange;
    }
    std::string body = "{\"live_port\":" + std::to_string(live_port_()) + ",\"token_required\":";
    body += token_required ? "true" : "false";
    body += ",\"version\":\"" III_VERSION "\",\"invocable\":[";
    for (size_t i = 0; i < config_.invocable.size(); ++i) {
      if (i) body += ',';
      append_json_string(body, config_.invocable[i]);
    }
    body += "]}";
    reply(transport, 200, kJson, body, options);
    return exchange;
  }
  if (path != "/api/call" && path != "/api/invoke") {
    reply(transport, 404, kJson, error_json("not found"), options);
    return exchange;
  }
  if (request.method != "POST") {
    reply(transport, 405, kJson, error_json("method not allowed"), options);
    return exchange;
  }
  if (!header(request, "content-type").starts_with(kJson)) {
    reply(transport, 415, kJson, error_json("send the call as application/json"), options);
    return exchange;
  }
  call(std::move(transport), exchange, request.body, path == "/api/invoke", options);
  return exchange;
}

void ConsoleHttpService::call(std::shared_ptr<HttpTransport> transport, std::shared_ptr<HttpServerExchange> exchange,
                              std::string_view body, bool invoke_form, HttpExchangeOptions options) {
  boost::system::error_code ec;
  const boost::json::value request = boost::json::parse(body, ec);
  const boost::json::value* id = request.is_object() ? request.get_object().if_contains("function_id") : nullptr;
  if (ec || !id || !id->is_string()) {
    reply(transport, 400, kJson, error_json("expected {\"function_id\": string, \"payload\"?: any}"), options);
    return;
  }
  const std::string function_id(id->get_string());
  const bool allowed = invoke_form ? is_invocable(config_.invocable, function_id) : is_page_function(function_id);
  if (!allowed) {
    reply(transport, 403, kJson,
          error_json("the console may not call `" + function_id + "`" +
                     (invoke_form ? " (see `invocable` in its config)" : "")),
          options);
    return;
  }
  const boost::json::value* payload = request.get_object().if_contains("payload");
  const std::string data = payload ? boost::json::serialize(*payload) : "{}";
  auto state = std::static_pointer_cast<ConsoleExchange>(exchange);
  // The pages' queries are not the engine's traffic: no span, not counted (docs/builtins.md §15.4).
  // What the invoke form runs is a call like any other, traced and counted.
  CallContext context;
  context.unobserved = !invoke_form;
  engine_.invoke(function_id, data, {}, [transport, state, options](Outcome outcome) {
    std::string answer;
    if (outcome.ok()) {
      answer = "{\"result\":" + (outcome.result.empty() ? std::string("null") : outcome.result) + "}";
    } else {
      answer = "{\"error\":{\"code\":";
      append_json_string(answer, outcome.error->code);
      answer += ",\"message\":";
      append_json_string(answer, outcome.error->message);
      answer += "}}";
    }
    transport->dispatch([transport, state, options, answer = std::move(answer)] {
      if (!state->aborted) reply(transport, 200, kJson, answer, options);
    });
  }, context);
}

}  // namespace iii
