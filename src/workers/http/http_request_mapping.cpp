#include "workers/http/http_request_mapping.h"

#include "wire/json_writer.h"
#include "core/message.h"  // is_valid_json
#include "core/string_map.h"

namespace iii {
namespace {

using Pairs = std::vector<std::pair<std::string_view, std::string_view>>;

// Appends `"key":value` pairs, values being JSON text: `first` ('{' to open an object, ',' to
// continue one) before the first pair, commas between the others.
void append_fields(std::string& out, char first,
                   std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  char separator = first;
  for (const auto& [key, value] : fields) {
    out += separator;
    out += '"';
    out += key;  // keys here are plain ASCII names
    out += "\":";
    out += value;
    separator = ',';
  }
}

// HeaderValue::to_str of the reference: visible ASCII and tab only, else the value reads as "".
bool visible_ascii(std::string_view v) {
  for (char ch : v) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c >= 0x7F) return false;
  }
  return true;
}

// Writes {"k":"v",…} keeping, for a repeated key, only its last value (a map, as the reference).
void append_object_last_wins(std::string& out, const Pairs& pairs) {
  out += '{';
  bool first = true;
  auto emit = [&](const std::pair<std::string_view, std::string_view>& p) {
    if (!first) out += ',';
    first = false;
    append_json_string_lossy(out, p.first);
    out += ':';
    append_json_string_lossy(out, p.second);
  };
  if (pairs.size() <= 32) {
    for (size_t i = 0; i < pairs.size(); ++i) {
      bool overridden = false;
      for (size_t j = i + 1; j < pairs.size() && !overridden; ++j) overridden = pairs[j].first == pairs[i].first;
      if (!overridden) emit(pairs[i]);
    }
  } else {
    StringMap<size_t> last;
    for (size_t i = 0; i < pairs.size(); ++i) last.insert_or_assign(std::string(pairs[i].first), i);
    for (size_t i = 0; i < pairs.size(); ++i)
      if (last.find(pairs[i].first)->second == i) emit(pairs[i]);
  }
  out += '}';
}

size_t utf8_sequence_length(const unsigned char* p, size_t left) {
  const unsigned char c = p[0];
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
  else return 0;
  if (left < len) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

void append_json_string_lossy(std::string& out, std::string_view text) {
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return append_json_string(out, text);
  std::string clean;
  clean.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8_sequence_length(p + i, text.size() - i);
    if (len == 0) {
      clean += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      clean.append(text.data() + i, len);
      i += len;
    }
  }
  append_json_string(out, clean);
}

std::string_view find_header(const HttpRequestView& request, std::string_view lower_name) {
  if (!request.headers) return {};
  for (const HttpHeaderView& h : *request.headers) {
    if (h.name.size() != lower_name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < h.name.size() && same; ++i) {
      char c = h.name[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == lower_name[i];
    }
    if (same) return h.value;
  }
  return {};
}

RequestFragments build_request_fragments(const HttpRequestView& request, const RouteMatch& match) {
  RequestFragments f;
  Pairs pairs;

  // Query parameters: decoded strings must outlive `pairs`.
  std::vector<std::pair<std::string, std::string>> decoded;
  for_each_query_param(target_query(request.target), [&](std::string key, std::string value) {
    decoded.emplace_back(std::move(key), std::move(value));
  });
  pairs.reserve(decoded.size());
  for (const auto& [k, v] : decoded) pairs.emplace_back(k, v);
  f.query_params.reserve(16 + decoded.size() * 24);
  append_object_last_wins(f.query_params, pairs);

  pairs.assign(match.params.begin(), match.params.end());
  append_object_last_wins(f.path_params, pairs);

  // Headers: names lower-cased into one buffer (views into it are taken after it stops growing).
  const size_t count = request.headers ? request.headers->size() : 0;
  std::string names;
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += (*request.headers)[i].name.size();
  names.reserve(total);
  for (size_t i = 0; i < count; ++i) {
    for (char c : (*request.headers)[i].name) names += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  pairs.clear();
  size_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    const HttpHeaderView& h = (*request.headers)[i];
    std::string_view name(names.data() + offset, h.name.size());
    offset += h.name.size();
    pairs.emplace_back(name, visible_ascii(h.value) ? h.value : std::string_view());
  }
  f.headers.reserve(32 + total * 2);
  append_object_last_wins(f.headers, pairs);
  return f;
}

std::string body_json(const HttpRequestView& request) {
  std::string_view content_type = find_header(request, "content-type");
  bool json = false;
  static constexpr std::string_view kJson = "application/json";
  for (size_t i = 0; !json && i + kJson.size() <= content_type.size(); ++i) {
    size_t k = 0;
    for (; k < kJson.size(); ++k) {
      char c = content_type[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != kJson[k]) break;
    }
    json = k == kJson.size();
  }
  if (!json || !is_valid_json(request.body)) return "null";
  return std::string(request.body);
}

std::string build_payload_prefix(const HttpRequestView& request, const HttpRoute& route, const RequestFragments& f,
                                 std::string_view body) {
  std::string path, method;
  append_json_string_lossy(path, route.api_path);
  append_json_string_lossy(method, request.method);
  std::string out;
  out.reserve(160 + f.query_params.size() + f.path_params.size() + f.headers.size() + body.size() + 2 * path.size());
  append_fields(out, '{', {{"query_params", f.query_params}, {"path_params", f.path_params}, {"headers", f.headers},
                           {"path", path}, {"method", method}, {"body", body}});
  out += R"(,"trigger":{"type":"http")";
  append_fields(out, ',', {{"path", path}, {"method", method}});
  out += '}';
  return out;
}

std::string finish_handler_payload(std::string prefix, std::string_view request_body_ref, std::string_view response_ref) {
  prefix.reserve(prefix.size() + request_body_ref.size() + response_ref.size() + 32);
  prefix += R"(,"request_body":)";
  prefix += request_body_ref;
  prefix += R"(,"response":)";
  prefix += response_ref;
  prefix += '}';
  return prefix;
}

std::string finish_condition_payload(std::string_view prefix) {
  std::string out;
  out.reserve(prefix.size() + 1);
  out += prefix;
  out += '}';
  return out;
}

std::string build_middleware_input(const HttpRequestView& request, const RequestFragments& f) {
  std::string method;
  append_json_string_lossy(method, request.method);
  std::string out;
  out.reserve(96 + f.path_params.size() + f.query_params.size() + f.headers.size());
  out += R"({"phase":"preHandler","request":)";
  append_fields(out, '{', {{"path_params", f.path_params}, {"query_params", f.query_params}, {"headers", f.headers},
                           {"method", method}});
  out += R"(},"context":{}})";
  return out;
}

}  // namespace iii
