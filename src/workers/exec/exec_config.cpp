#include "workers/exec/exec_config.h"

#include <boost/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "core/json_text.h"
#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

constexpr ConfigReader reader{kExecWorkerName};
constexpr size_t kMaxNameBytes = 64;

// A list of strings under `key` (`exec`, `watch`); each element checked by `check(text, "key[i]")`.
template <class Check>
std::vector<std::string> string_list(const json::value& v, const std::string& key, Check check) {
  if (!v.is_array()) reader.fail(key, std::string("must be a list of strings, got ") + json_text::type_name(v));
  std::vector<std::string> out;
  for (size_t i = 0; i < v.get_array().size(); ++i) {
    const std::string item_key = key + "[" + std::to_string(i) + "]";
    out.push_back(reader.string(v.get_array()[i], item_key));
    check(out.back(), item_key);
  }
  return out;
}

std::string default_name(std::string_view instance_id) {
  if (instance_id.empty()) return "exec";
  if (instance_id.substr(0, 4) == "iii-") instance_id.remove_prefix(4);
  return std::string(instance_id);
}

milliseconds millis(const json::object& o, std::string_view key, uint64_t min, uint64_t max, milliseconds fallback) {
  const json::value* v = reader.field(o, key);
  return v ? milliseconds(reader.integer(*v, std::string(key), min, max)) : fallback;
}

}  // namespace

ExecConfig parse_exec_config(const json::value& config, const std::filesystem::path& working_dir,
                             std::string_view instance_id) {
  require_known_keys(config, kExecWorkerName,
                     {"exec", "watch", "name", "cwd", "restart_delay_ms", "restart_max_delay_ms", "restart_reset_ms",
                      "stop_grace_ms"});
  if (config.is_null()) reader.fail("exec", "is required: the list of shell commands to run");
  const json::object& o = config.get_object();
  ExecConfig out;
  out.name = default_name(instance_id);
  if (const json::value* v = reader.field(o, "name")) {
    out.name = reader.string(*v, "name");
    if (out.name.empty() || out.name.size() > kMaxNameBytes)
      reader.fail("name", "must be 1 to " + std::to_string(kMaxNameBytes) + " characters");
    for (unsigned char c : out.name)
      if (c < 0x20 || c == 0x7f) reader.fail("name", "must not contain control characters");
  }

  const json::value* exec = reader.field(o, "exec");
  if (!exec) reader.fail("exec", "is required: the list of shell commands to run");
  out.commands = string_list(*exec, "exec", [](const std::string& command, const std::string& key) {
    if (command.find_first_not_of(" \t\r\n") == std::string::npos) reader.fail(key, "must not be empty");
    if (command.find('\0') != std::string::npos) reader.fail(key, "must not contain a NUL character");
  });
  if (out.commands.empty()) reader.fail("exec", "must list at least one command");

  out.cwd = working_dir;
  if (const json::value* v = reader.field(o, "cwd")) {
    const std::string cwd = reader.string(*v, "cwd");
    if (cwd.empty()) reader.fail("cwd", "must not be empty");
    out.cwd = working_dir / cwd;
  }
  out.cwd = out.cwd.lexically_normal();

  if (const json::value* v = reader.field(o, "watch")) {
    string_list(*v, "watch", [&](const std::string& text, const std::string& key) {
      try {
        out.watch.push_back(parse_watch_pattern(text, out.cwd));
      } catch (const std::invalid_argument& e) {
        reader.fail(key, e.what());
      }
    });
  }

  out.restart_delay = millis(o, "restart_delay_ms", 10, 3'600'000, out.restart_delay);
  out.restart_max_delay = millis(o, "restart_max_delay_ms", 10, 3'600'000, std::max(out.restart_max_delay, out.restart_delay));
  if (out.restart_max_delay < out.restart_delay)
    reader.fail("restart_max_delay_ms", "must be at least restart_delay_ms (" + std::to_string(out.restart_delay.count()) + ")");
  out.restart_reset = millis(o, "restart_reset_ms", 0, 86'400'000, out.restart_reset);
  out.stop_grace = millis(o, "stop_grace_ms", 0, 600'000, out.stop_grace);
  return out;
}

}  // namespace iii
