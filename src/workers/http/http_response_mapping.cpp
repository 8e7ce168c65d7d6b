#include "workers/http/http_response_mapping.h"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "wire/json_writer.h"
#include "core/ascii.h"
#include "core/json_walk.h"

namespace iii {
namespace {

using simdjson::ondemand::json_type;

// Per-thread parser and padded input: the result of a call is parsed once, its `body` spliced
// out verbatim (never re-serialized).
struct ResponseScratch {};
OnDemandScratch& scratch() { return OnDemandScratch::of<ResponseScratch>(); }
simdjson::padded_string_view padded(std::string_view text) { return scratch().pad(text); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Framing headers are the server's business: a user value would corrupt the message.
bool framing_header(std::string_view name) {
  return ascii_iequals(name, "content-length") || ascii_iequals(name, "transfer-encoding") || ascii_iequals(name, "connection");
}

void add_header(HttpResponseHead& head, std::string_view name, std::string_view value) {
  if (!valid_header_name(name) || !valid_header_value(value) || framing_header(name)) return;
  head.headers.push_back(ResponseHeader{std::string(name), std::string(value)});
}

// The raw JSON text of `v` (objects and arrays verbatim, scalars as their token).
simdjson::error_code raw_json_of(simdjson::ondemand::value v, std::string_view& out) {
  json_type type;
  if (auto err = v.type().get(type)) return err;
  if (type == json_type::object) {
    simdjson::ondemand::object o;
    if (auto err = v.get_object().get(o)) return err;
    return o.raw_json().get(out);
  }
  if (type == json_type::array) {
    simdjson::ondemand::array a;
    if (auto err = v.get_array().get(a)) return err;
    return a.raw_json().get(out);
  }
  out = trim(v.raw_json_token());
  return simdjson::SUCCESS;
}

std::optional<int> status_of(simdjson::ondemand::value v, int low, int high) {
  uint64_t n = 0;
  if (v.get_uint64().get(n)) return std::nullopt;
  if (n < uint64_t(low) || n > uint64_t(high)) return std::nullopt;
  return static_cast<int>(n);
}

// Reads the headers of an envelope: an object of strings, or an array of "Name: value" strings.
simdjson::error_code read_headers(simdjson::ondemand::value v, HttpResponseHead& head) {
  json_type type;
  if (auto err = v.type().get(type)) return err;
  if (type == json_type::object) {
    simdjson::ondemand::object o;
    if (auto err = v.get_object().get(o)) return err;
    for (auto f : o) {
      simdjson::ondemand::field field;
      std::string_view key, value;
      if (auto err = std::move(f).get(field)) return err;
      if (auto err = field.unescaped_key().get(key)) return err;
      std::string name(key);  // the key view dies when the value is read
      if (field.value().get_string().get(value) == simdjson::SUCCESS) add_header(head, name, value);
    }
  } else if (type == json_type::array) {
    simdjson::ondemand::array a;
    if (auto err = v.get_array().get(a)) return err;
    for (auto item : a) {
      std::string_view line;
      if (item.get_string().get(line) != simdjson::SUCCESS) continue;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = trim(line.substr(0, colon));
      if (name.empty()) continue;
      add_header(head, name, trim(line.substr(colon + 1)));
    }
  }
  return simdjson::SUCCESS;
}

const ResponseHeader* find(const HttpResponseHead& head, std::string_view name) {
  for (const ResponseHeader& h : head.headers)
    if (ascii_iequals(h.name, name)) return &h;
  return nullptr;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.head.status = status;
  r.head.headers.push_back(ResponseHeader{"content-type", "application/json"});
  r.body = std::move(body);
  return r;
}

bool status_without_body(int status) { return !status_allows_body(status); }

void append_status_line(std::string& out, int status) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
}

// User headers, minus those the server's extra headers replace.
void append_headers(std::string& out, const HttpResponseHead& head, std::string_view extra) {
  for (const ResponseHeader& h : head.headers) {
    bool replaced = false;
    for (size_t pos = 0; pos < extra.size() && !replaced;) {
      size_t colon = extra.find(':', pos);
      size_t eol = extra.find("\r\n", pos);
      if (colon == std::string_view::npos || eol == std::string_view::npos) break;
      replaced = ascii_iequals(extra.substr(pos, colon - pos), h.name);
      pos = eol + 2;
    }
    if (replaced) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += extra;
}

void append_connection(std::string& out, const ResponseFraming& framing) {
  if (!framing.keep_alive) out += "connection: close\r\n";
  else if (framing.http10) out += "connection: keep-alive\r\n";
}

}  // namespace

bool status_allows_body(int status) { return !((status >= 100 && status < 200) || status == 204 || status == 304); }

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
    if (!token) return false;
  }
  return true;
}

bool valid_header_value(std::string_view value) {
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

bool set_response_header(HttpResponseHead& head, std::string_view name, std::string_view value) {
  if (!valid_header_name(name) || !valid_header_value(value) || framing_header(name)) return false;
  for (ResponseHeader& h : head.headers) {
    if (h.name == name) {
      h.value = std::string(value);
      return true;
    }
  }
  head.headers.push_back(ResponseHeader{std::string(name), std::string(value)});
  return true;
}

HttpResponse response_from_result(std::string_view result) {
  HttpResponse response;
  simdjson::ondemand::document doc;
  auto& parser = scratch().parser;
  if (parser.iterate(padded(result)).get(doc)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
  json_type type;
  if (doc.type().get(type)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);

  std::string body_raw = "{}";       // the JSON text of `body`
  std::optional<std::string> body_string;  // its contents when it is a string
  bool body_null = false;
  if (type == json_type::object) {
    simdjson::ondemand::object o;
    if (doc.get_object().get(o)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
    for (auto f : o) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (std::move(f).get(field) || field.unescaped_key().get(key))
        return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
      if (key == "status_code") {
        response.head.status = status_of(field.value(), 100, 999).value_or(200);
      } else if (key == "headers") {
        response.head.headers.clear();
        if (read_headers(field.value(), response.head)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
      } else if (key == "body") {
        simdjson::ondemand::value v = field.value();
        json_type body_type;
        if (v.type().get(body_type)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
        body_string.reset();
        body_null = body_type == json_type::null;
        if (body_type == json_type::string) {
          std::string_view s;
          if (v.get_string().get(s)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
          body_string = std::string(s);
          body_raw.clear();
          append_json_string(body_raw, s);
        } else {
          std::string_view raw;
          if (raw_json_of(v, raw)) return error_response(500, "INTERNAL_ERROR", "Invalid handler result", true);
          body_raw.assign(raw);
        }
      }
    }
  }

  const ResponseHeader* content_type = find(response.head, "content-type");
  if (content_type && body_string) {
    response.body = std::move(*body_string);
  } else if (content_type && body_null) {
    response.body.clear();
  } else {
    response.body = std::move(body_raw);
    // A JSON content type (or none) gets the JSON text; a non-JSON one gets it too, as text.
    if (!content_type) response.head.headers.push_back(ResponseHeader{"content-type", "application/json"});
  }
  return response;
}

std::string new_error_id() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ns) & 0xFFFFFFFFFFFFULL);
  return buf;
}

HttpResponse error_response(int status, std::string_view code, std::string_view message, bool with_error_id,
                            bool skipped) {
  std::string body;
  body.reserve(64 + code.size() + message.size());
  body += R"({"error":{"code":)";
  append_json_string(body, code);
  body += R"(,"message":)";
  append_json_string(body, message);
  if (with_error_id) {
    body += R"(,"error_id":)";
    append_json_string(body, new_error_id());
  }
  body += '}';
  if (skipped) body += R"(,"skipped":true)";
  body += '}';
  return json_response(status, std::move(body));
}

HttpResponse not_found_response() { return error_response(404, "NOT_FOUND", "Not Found", false); }

HttpResponse condition_not_met_response() {
  return error_response(422, "CONDITION_NOT_MET", "Request condition not met", false, true);
}

HttpResponse payload_too_large_response() {
  return error_response(413, "PAYLOAD_TOO_LARGE", "Request body is larger than the configured limit", false);
}

HttpResponse gateway_timeout_response() {
  HttpResponse r;
  r.head.status = 504;
  return r;
}

HttpResponse middleware_timeout_response() {
  return error_response(504, "MIDDLEWARE_TIMEOUT", "Middleware timed out", true);
}

// Calls fn(key, value) for every field of `o`; false when a field cannot be read or fn returned
// false. A key is only good until the next read: fn copies it when it needs it longer.
template <class Fn>
bool for_each_field(simdjson::ondemand::object& o, Fn&& fn) {
  for (auto f : o) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    if (!fn(key, field.value())) return false;
  }
  return true;
}

// for_each_field of `text` parsed as a JSON object; false when it is not one.
template <class Fn>
bool for_each_field_of(std::string_view text, Fn&& fn) {
  simdjson::ondemand::document doc;
  if (scratch().parser.iterate(padded(text)).get(doc)) return false;
  simdjson::ondemand::object o;
  if (doc.get_object().get(o)) return false;
  return for_each_field(o, fn);
}

// The string fields of a header object as headers (fn decides what a non-string value does).
template <class OnNonString>
bool read_headers(simdjson::ondemand::object& h, std::vector<ResponseHeader>& out, OnNonString&& on_non_string) {
  return for_each_field(h, [&](std::string_view name, simdjson::ondemand::value& value) {
    std::string n(name);
    std::string_view v;
    if (value.get_string().get(v)) on_non_string();
    else out.push_back(ResponseHeader{std::move(n), std::string(v)});
    return true;
  });
}

bool middleware_responds(std::string_view result, HttpResponse& out) {
  std::optional<std::string> action;
  int status = 200;
  std::string body = "null";
  HttpResponseHead user;
  bool headers_ok = true;
  auto response_field = [&](std::string_view key, simdjson::ondemand::value& value) {
    if (key == "status_code") {
      status = status_of(value, 100, 999).value_or(200);
    } else if (key == "body") {
      std::string_view raw;
      if (raw_json_of(value, raw)) return false;
      body.assign(raw);
    } else if (key == "headers") {
      // A string map, or nothing at all (one non-string value drops them all).
      user.headers.clear();
      headers_ok = true;
      simdjson::ondemand::object h;
      if (value.get_object().get(h)) {
        headers_ok = false;
        return true;
      }
      return read_headers(h, user.headers, [&] { headers_ok = false; });
    }
    return true;
  };
  const bool read = for_each_field_of(result, [&](std::string_view key, simdjson::ondemand::value& value) {
    if (key == "action") {
      std::string_view a;
      action = value.get_string().get(a) == simdjson::SUCCESS ? std::string(a) : std::string();
    } else if (key == "response") {
      simdjson::ondemand::object r;
      if (value.get_object().get(r)) return true;
      return for_each_field(r, response_field);
    }
    return true;
  });
  if (!read || !action || *action != "respond") return false;
  out = json_response(status, std::move(body));
  if (headers_ok) {
    for (const ResponseHeader& h : user.headers) {
      if (!valid_header_name(h.name) || !valid_header_value(h.value) || framing_header(h.name)) continue;
      // Insert replaces any value of the same (case-insensitive) name.
      std::erase_if(out.head.headers, [&](const ResponseHeader& e) { return ascii_iequals(e.name, h.name); });
      out.head.headers.push_back(h);
    }
  }
  return true;
}

bool apply_control_message(std::string_view text, HttpResponseHead& head) {
  std::string type;
  std::optional<int> status;
  std::vector<ResponseHeader> headers;
  bool has_headers = false;
  const bool read = for_each_field_of(text, [&](std::string_view key, simdjson::ondemand::value& value) {
    if (key == "type") {
      std::string_view t;
      if (value.get_string().get(t) == simdjson::SUCCESS) type = std::string(t);
    } else if (key == "status_code") {
      status = status_of(value, 100, 599);
    } else if (key == "headers") {
      simdjson::ondemand::object h;
      if (value.get_object().get(h)) return true;
      has_headers = true;
      headers.clear();
      return read_headers(h, headers, [] {});  // non-string values are skipped
    }
    return true;
  });
  if (!read) return false;
  if (type == "set_status") {
    if (!status) return false;
    head.status = *status;
    return true;
  }
  if (type == "set_headers" && has_headers) {
    for (const ResponseHeader& h : headers) set_response_header(head, h.name, h.value);
    return true;
  }
  return false;
}

std::string serialize_response(const HttpResponse& response, const ResponseFraming& framing) {
  const int status = response.head.status;
  const bool no_body = status_without_body(status);
  std::string out;
  out.reserve(128 + framing.extra_headers.size() + response.body.size() + 48 * response.head.headers.size());
  append_status_line(out, status);
  append_headers(out, response.head, framing.extra_headers);
  if (!no_body) {
    out += "content-length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
  }
  append_connection(out, framing);
  out += "\r\n";
  if (!no_body && !framing.head_request) out += response.body;
  return out;
}

std::string serialize_stream_head(const HttpResponseHead& head, const ResponseFraming& framing) {
  std::string out;
  out.reserve(128 + framing.extra_headers.size() + 48 * head.headers.size());
  append_status_line(out, head.status);
  append_headers(out, head, framing.extra_headers);
  if (!status_without_body(head.status) && !framing.http10) out += "transfer-encoding: chunked\r\n";
  append_connection(out, framing);
  out += "\r\n";
  return out;
}

void append_body_chunk(std::string& out, std::string_view data, bool chunked) {
  if (data.empty()) return;  // an empty chunk would end the body
  if (!chunked) {
    out += data;
    return;
  }
  char size[20];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<size_t>(n));
  out += data;
  out += "\r\n";
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 422: return "Unprocessable Entity";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

}  // namespace iii
