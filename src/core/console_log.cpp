#include "core/console_log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "wire/json_writer.h"

namespace iii::console_log {
namespace {

std::atomic<bool> g_pinned{false};
std::mutex g_format_mu;
bool g_json = false;

// %* in a pattern: the message as a JSON string (quoted, escaped).
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string text;
    append_json_string(text, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

}  // namespace

void pin_level(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  g_pinned = true;
}

bool set_level_from_config(std::string_view level) {
  if (g_pinned) return false;
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  return true;
}

void set_json_format(bool json) {
  std::lock_guard lock(g_format_mu);
  if (json == g_json) return;
  g_json = json;
  if (!json) {
    spdlog::set_pattern("%+");  // spdlog's default
    return;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessage>('*').set_pattern(
      R"({"timestamp":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","target":"%n","message":%*})");
  spdlog::set_formatter(std::move(formatter));
}

}  // namespace iii::console_log
