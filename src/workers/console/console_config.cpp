#include "workers/console/console_config.h"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>

#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-console";
constexpr ConfigReader reader{kWorker};

uint16_t read_port(const json::value& v, const std::string& key, uint64_t min) {
  // Ports may be written as strings (`port: "${PORT}"` after substitution).
  if (v.is_string()) {
    const std::string text(v.get_string());
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 5)
      reader.fail(key, "must be a port number, got `" + text + "`");
    const uint64_t n = std::stoull(text);
    if (n < min || n > 65535) reader.fail(key, "must be between " + std::to_string(min) + " and 65535, got " + text);
    return static_cast<uint16_t>(n);
  }
  return static_cast<uint16_t>(reader.integer(v, key, min, 65535));
}

std::vector<std::string> read_patterns(const json::value& v) {
  if (!v.is_array()) reader.fail("invocable", "must be a list of function ids or prefixes ending in `*`");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.get_array().size(); ++i) {
    std::string p = reader.string(v.get_array()[i], "invocable[" + std::to_string(i) + "]");
    if (p.empty()) reader.fail("invocable[" + std::to_string(i) + "]", "must not be empty");
    if (p.find('*') != std::string::npos && p.find('*') != p.size() - 1)
      reader.fail("invocable[" + std::to_string(i) + "]", "may hold `*` only at its end, got `" + p + "`");
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  std::string text(host);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(text, ec);
  return !ec && address.is_loopback();
}

ConsoleConfig parse_console_config(const json::value& config, const EnvLookup& env) {
  ConsoleConfig out;
  require_known_keys(config, kWorker, {"host", "port", "live_port", "token", "invocable"});
  if (!config.is_null()) {
    const json::object& o = config.get_object();
    if (const json::value* v = reader.field(o, "host")) {
      out.host = reader.string(*v, "host");
      if (out.host.empty()) reader.fail("host", "must not be empty");
    }
    if (const json::value* v = reader.field(o, "port")) out.port = read_port(*v, "port", 1);
    if (const json::value* v = reader.field(o, "live_port")) out.live_port = read_port(*v, "live_port", 0);
    if (const json::value* v = reader.field(o, "token")) out.token = reader.string(*v, "token");
    if (const json::value* v = reader.field(o, "invocable")) out.invocable = read_patterns(*v);
  }
  if (out.token.empty() && env) {
    if (auto from_env = env("III_CONSOLE_TOKEN")) out.token = *from_env;
  }
  if (out.token.empty() && !is_loopback_host(out.host))
    reader.fail("token", "is required when `host` is not a loopback address (`" + out.host +
                             "`): set `token` or the environment variable III_CONSOLE_TOKEN");
  return out;
}

}  // namespace iii
