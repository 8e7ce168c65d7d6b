#include "cli/trigger_payload.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "core/json_text.h"

namespace iii::cli {
namespace json = boost::json;

TriggerPayload build_trigger_payload(const std::vector<std::string>& kv_tokens,
                                     const std::optional<std::string>& json_flag) {
  json::object from_tokens;
  for (const auto& token : kv_tokens) {
    auto equals = token.find('=');
    if (equals == std::string::npos) return {nullptr, "expected key=value, got `" + token + "`"};
    if (equals == 0) return {nullptr, "payload key must not be empty, got `" + token + "`"};
    std::string value_text = token.substr(equals + 1);
    // Not JSON (e.g. `alice`, `007`): a plain string.
    std::optional<json::value> parsed = json_text::parse(value_text);
    json::value value = parsed ? std::move(*parsed) : json::value(json::string(value_text));
    from_tokens[token.substr(0, equals)] = std::move(value);
  }

  std::optional<json::value> from_flag;
  if (json_flag) {
    from_flag = json_text::parse(*json_flag);
    if (!from_flag) return {nullptr, "--json: invalid JSON `" + *json_flag + "`"};
  }

  if (!from_flag) return {std::move(from_tokens), {}};  // rules 1 and 3
  if (kv_tokens.empty()) return {std::move(*from_flag), {}};
  if (!from_flag->is_object()) return {nullptr, "--json must be an object when combined with kv pairs"};
  json::object merged = std::move(from_flag->get_object());
  for (auto& field : from_tokens) merged[field.key()] = std::move(field.value());
  return {std::move(merged), {}};
}

namespace {

void append_number(std::string& out, double number) {
  if (!std::isfinite(number)) {
    out += "null";  // JSON has no Infinity/NaN
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  std::string_view text(buffer, end - buffer);
  out += text;
  if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";  // keep it a float: 5.0
}

void append_pretty(std::string& out, const json::value& value, int depth);

// A container: `{}`/`[]` when empty, else each item on its own line, one level deeper.
template <class Container, class WriteItem>
void append_container(std::string& out, const Container& items, int depth, char open, char close,
                      WriteItem write_item) {
  out += open;
  bool first = true;
  for (const auto& item : items) {
    out += first ? "\n" : ",\n";
    first = false;
    out.append(static_cast<std::size_t>(depth + 1) * 2, ' ');
    write_item(item);
  }
  if (!first) {
    out += '\n';
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
  }
  out += close;
}

void append_pretty(std::string& out, const json::value& value, int depth) {
  switch (value.kind()) {
    case json::kind::object:
      return append_container(out, value.get_object(), depth, '{', '}', [&](const json::key_value_pair& field) {
        out += json::serialize(field.key());
        out += ": ";
        append_pretty(out, field.value(), depth + 1);
      });
    case json::kind::array:
      return append_container(out, value.get_array(), depth, '[', ']',
                              [&](const json::value& item) { append_pretty(out, item, depth + 1); });
    case json::kind::double_:
      append_number(out, value.get_double());
      return;
    default:  // strings, integers, booleans and null serialize the same either way
      out += json::serialize(value);
      return;
  }
}

}  // namespace

std::string pretty_json(const json::value& value) {
  std::string out;
  append_pretty(out, value, 0);
  return out;
}

}  // namespace iii::cli
