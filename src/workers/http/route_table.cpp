#include "workers/http/route_table.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

bool routable_method(std::string_view m) {
  return m == "GET" || m == "POST" || m == "PUT" || m == "DELETE" || m == "PATCH" || m == "HEAD" || m == "OPTIONS";
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string_view strip_leading_slashes(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path;
}

ErrorBody registration_error(std::string message) {
  return ErrorBody{codes::kTriggerRegistrationFailed, std::move(message), std::nullopt};
}

}  // namespace

struct RouteTable::Node {
  StringMap<std::unique_ptr<Node>> literal;
  std::unique_ptr<Node> param;
  std::shared_ptr<const HttpRoute> route;

  bool empty() const { return literal.empty() && !param && !route; }
};

std::vector<std::string_view> split_route_path(std::string_view path) {
  std::vector<std::string_view> segments;
  if (path.empty()) return segments;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      return segments;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string RouteTable::route_key(std::string_view method, std::string_view api_path) {
  std::string key = upper(method);
  key += ':';
  std::string_view path = strip_leading_slashes(api_path);
  if (path.empty() && !api_path.empty()) key += '/';
  else key += path;
  return key;
}

RouteTable::RouteTable() = default;
RouteTable::~RouteTable() = default;

RouteTable::Node* RouteTable::root_for(std::string_view method, bool create) {
  for (auto& [m, node] : roots_)
    if (m == method) return node.get();
  if (!create) return nullptr;
  roots_.emplace_back(std::string(method), std::make_unique<Node>());
  return roots_.back().second.get();
}

const RouteTable::Node* RouteTable::root_for(std::string_view method) const {
  for (const auto& [m, node] : roots_)
    if (m == method) return node.get();
  return nullptr;
}

std::optional<ErrorBody> RouteTable::add(const TriggerBinding& binding) {
  json::value config = json_text::parse(binding.config).value_or(nullptr);
  const json::object* o = config.if_object();
  const json::value* api_path = o ? o->if_contains("api_path") : nullptr;
  if (!api_path || !api_path->is_string()) return registration_error("api_path is required for http triggers");

  auto route = std::make_shared<HttpRoute>();
  route->trigger_id = binding.id;
  route->owner_worker_id = binding.owner_worker_id;
  route->api_path = std::string(api_path->get_string());
  route->function_id = binding.function_id;
  route->metadata = binding.metadata;
  route->method = "GET";
  if (const json::value* m = o->if_contains("http_method"); m && m->is_string()) route->method = upper(m->get_string());
  if (const json::value* c = o->if_contains("condition_function_id"); c && c->is_string())
    route->condition_function_id = std::string(c->get_string());
  if (const json::value* ids = o->if_contains("middleware_function_ids"); ids && ids->is_array()) {
    for (const json::value& id : ids->get_array())
      if (id.is_string()) route->middleware_function_ids.emplace_back(id.get_string());
  }
  route->key = route_key(route->method, route->api_path);
  for (std::string_view segment : split_route_path(strip_leading_slashes(route->api_path)))
    if (!segment.empty() && segment.front() == ':') route->param_names.emplace_back(segment.substr(1));

  std::unique_lock lock(mu_);
  // A binding activated again (same id) replaces its earlier route, wherever it was.
  if (auto it = key_by_trigger_.find(binding.id); it != key_by_trigger_.end()) {
    auto owned = by_key_.find(it->second);
    if (owned != by_key_.end() && owned->second->trigger_id == binding.id) {
      erase_locked(*owned->second);
      by_key_.erase(owned);
    }
    key_by_trigger_.erase(it);
  }
  if (routable_method(route->method)) {
    // Same shape (parameters collapsed) under another key ⇒ a matcher conflict.
    const Node* node = root_for(route->method);
    for (std::string_view segment : split_route_path(strip_leading_slashes(route->api_path))) {
      if (!node) break;
      if (!segment.empty() && segment.front() == ':') {
        node = node->param.get();
      } else {
        auto child = node->literal.find(segment);
        node = child == node->literal.end() ? nullptr : child->second.get();
      }
    }
    if (node && node->route && node->route->key != route->key) {
      return registration_error("Route '" + route->method + " " + route->api_path +
                                "' conflicts with already-registered route '" + node->route->method + " " +
                                node->route->api_path +
                                "': routes with identical structure but different path-parameter names are not "
                                "supported");
    }
  } else {
    spdlog::warn("http trigger {}: method {} is not routable (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)",
                 binding.id, route->method);
  }
  if (auto previous = by_key_.find(route->key); previous != by_key_.end()) {
    if (previous->second->trigger_id != route->trigger_id)
      spdlog::info("http route {} now served by {} (was {})", route->key, route->function_id,
                   previous->second->function_id);
    erase_locked(*previous->second);
  }
  if (routable_method(route->method)) insert_locked(route);
  key_by_trigger_.insert_or_assign(route->trigger_id, route->key);
  spdlog::info("http route {} {} → {}", route->method, route->api_path, route->function_id);
  by_key_.insert_or_assign(route->key, std::move(route));
  return std::nullopt;
}

bool RouteTable::remove(const TriggerBinding& binding) {
  std::unique_lock lock(mu_);
  auto it = key_by_trigger_.find(binding.id);
  if (it == key_by_trigger_.end()) return false;
  const std::string key = it->second;
  key_by_trigger_.erase(it);
  auto owned = by_key_.find(key);
  if (owned == by_key_.end() || owned->second->trigger_id != binding.id ||
      owned->second->owner_worker_id != binding.owner_worker_id) {
    return false;  // another binding took the key since
  }
  erase_locked(*owned->second);
  by_key_.erase(owned);
  spdlog::info("http route {} removed", key);
  return true;
}

void RouteTable::insert_locked(const std::shared_ptr<const HttpRoute>& route) {
  Node* node = root_for(route->method, true);
  for (std::string_view segment : split_route_path(strip_leading_slashes(route->api_path))) {
    if (!segment.empty() && segment.front() == ':') {
      if (!node->param) node->param = std::make_unique<Node>();
      node = node->param.get();
    } else {
      auto& child = node->literal[std::string(segment)];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
  }
  node->route = route;
}

void RouteTable::erase_locked(const HttpRoute& route) {
  Node* root = root_for(route.method, false);
  if (!root) return;
  const std::vector<std::string_view> segments = split_route_path(strip_leading_slashes(route.api_path));
  // Walk down remembering the path, clear the route, then prune empty nodes bottom-up.
  std::vector<std::pair<Node*, std::string_view>> trail;  // (parent, segment taken)
  Node* node = root;
  for (std::string_view segment : segments) {
    trail.emplace_back(node, segment);
    if (!segment.empty() && segment.front() == ':') {
      node = node->param.get();
    } else {
      auto child = node->literal.find(segment);
      node = child == node->literal.end() ? nullptr : child->second.get();
    }
    if (!node) return;
  }
  if (node->route && node->route->key == route.key) node->route.reset();
  for (auto it = trail.rbegin(); it != trail.rend(); ++it) {
    auto [parent, segment] = *it;
    const bool is_param = !segment.empty() && segment.front() == ':';
    Node* child = is_param ? parent->param.get() : parent->literal.find(segment)->second.get();
    if (!child->empty()) break;
    if (is_param) parent->param.reset();
    else parent->literal.erase(parent->literal.find(segment));
  }
}

std::shared_ptr<const HttpRoute> RouteTable::find_locked(const Node& root, std::string_view path,
                                                         RouteMatch& out) const {
  // Iterative depth-first search with backtracking: literal first, then the parameter.
  struct Frame {
    const Node* node;
    std::string_view rest;  // path left to match below `node`
    bool at_end;            // `rest` is consumed
    int tried;              // 0: nothing yet, 1: literal tried, 2: param tried
    size_t params;          // out.params size when the frame was entered
  };
  Frame stack[64];
  int depth = 0;
  stack[0] = Frame{&root, path, path.empty(), 0, 0};
  while (depth >= 0) {
    Frame& f = stack[depth];
    if (f.at_end) {
      if (f.node->route) return f.node->route;
      --depth;
      continue;
    }
    const size_t slash = f.rest.find('/');
    const std::string_view segment = f.rest.substr(0, slash);
    const std::string_view rest = slash == std::string_view::npos ? std::string_view() : f.rest.substr(slash + 1);
    const bool last = slash == std::string_view::npos;
    const Node* next = nullptr;
    if (f.tried == 0) {
      f.tried = 1;
      auto child = f.node->literal.find(segment);
      if (child != f.node->literal.end()) next = child->second.get();
    } else if (f.tried == 1) {
      f.tried = 2;
      if (f.node->param && !segment.empty()) {
        next = f.node->param.get();
        out.params.resize(f.params);
        out.params.emplace_back(std::string_view(), segment);
      }
    } else {
      out.params.resize(f.params);
      --depth;
      continue;
    }
    if (!next) continue;
    if (depth + 1 >= 64) return nullptr;  // absurdly deep path: no match
    stack[depth + 1] = Frame{next, rest, last, 0, out.params.size()};
    ++depth;
  }
  return nullptr;
}

std::optional<RouteMatch> RouteTable::match(std::string_view method, std::string_view path) const {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::shared_lock lock(mu_);
  RouteMatch out;
  if (const Node* root = root_for(method)) out.route = find_locked(*root, path, out);
  if (!out.route && method == "HEAD") {
    out.params.clear();
    if (const Node* root = root_for("GET")) out.route = find_locked(*root, path, out);
  }
  if (!out.route) return std::nullopt;
  for (size_t i = 0; i < out.params.size() && i < out.route->param_names.size(); ++i)
    out.params[i].first = out.route->param_names[i];
  out.params.resize(std::min(out.params.size(), out.route->param_names.size()));
  return out;
}

size_t RouteTable::size() const {
  std::shared_lock lock(mu_);
  return by_key_.size();
}

}  // namespace iii
