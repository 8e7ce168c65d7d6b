// The console's HTTP side (docs/builtins.md §15.2), an HttpService for net/http_server.h:
//
//   GET  /api/session   200 {"live_port","invocable","token_required","version"}; the page's first
//                       call (401 {"error"} without the token when one is configured)
//   POST /api/call      {"function_id","payload"?} for a function the pages need (is_page_function)
//   POST /api/invoke    the same for the invoke form (is_invocable)
//                       both: 200 {"result"} or {"error":{code,message}} as the function answered,
//                       403 for a function the console may not call, 400 for a malformed body
//   GET  anything else  an embedded asset, or index.html for a page path (/workers, /functions…)
//
// API requests need `Content-Type: application/json` (so another site's form cannot post one)
// and pass same_site(); with a token, every API request must carry it. Assets hold no data and
// are served to anyone who reaches the port (the page then asks for the token).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "net/http_transport.h"
#include "workers/console/console_config.h"

namespace iii {

class Engine;

class ConsoleHttpService final : public HttpService, public std::enable_shared_from_this<ConsoleHttpService> {
 public:
  // `live_port` tells the bound port of the live socket (asked per request: known once started).
  ConsoleHttpService(Engine& engine, ConsoleConfig config, std::function<uint16_t()> live_port);

  size_t body_limit() const override { return 1 << 20; }
  std::shared_ptr<HttpServerExchange> start(std::shared_ptr<HttpTransport> transport, const HttpRequestView& request,
                                            HttpExchangeOptions options) override;
  std::string refusal(int status) const override;

 private:
  void call(std::shared_ptr<HttpTransport> transport, std::shared_ptr<HttpServerExchange> exchange,
            std::string_view body, bool invoke_form, HttpExchangeOptions options);

  Engine& engine_;
  const ConsoleConfig config_;
  const std::function<uint16_t()> live_port_;
};

// One whole HTTP/1.1 response.
std::string console_response(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                             bool http10, bool head = false);

}  // namespace iii
