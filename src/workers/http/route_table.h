// The routes of the `http` trigger type (docs/protocol.md §7, docs/builtins.md §1.3).
//
// A binding's config {api_path, http_method?, condition_function_id?, middleware_function_ids?}
// becomes a route keyed `METHOD:path-without-leading-slash`; the same key registered again
// replaces the route (last writer wins), and removing a binding only removes the route it still
// owns. Paths are matched segment by segment against the raw (undecoded) request path: a literal
// segment beats a `:param` segment, trailing slashes are significant. Two routes of one method
// whose shapes differ only in parameter names are refused, as the reference's matcher does.
//
// Thread-safe: lookups take a shared lock; routes change rarely.
#pragma once
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "core/string_map.h"

namespace iii {

struct HttpRoute {
  std::string trigger_id;
  std::string owner_worker_id;
  std::string method;    // upper case
  std::string api_path;  // as registered (reported as `path` in payloads)
  std::string key;       // METHOD:path-without-leading-slash
  std::string function_id;
  std::string condition_function_id;  // empty = none
  std::vector<std::string> middleware_function_ids;
  std::vector<std::string> param_names;  // one per `:param` segment, in order
  std::string metadata;                  // the binding's raw metadata JSON; empty = none
};

struct RouteMatch {
  std::shared_ptr<const HttpRoute> route;
  // (name, raw segment) per path parameter; views into the route and the request path.
  std::vector<std::pair<std::string_view, std::string_view>> params;
};

class RouteTable {
 public:
  RouteTable();
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Adds the binding's route, replacing the route with the same key and any earlier route of the
  // same binding id. Returns the rejection: a missing api_path, a wrongly typed field, a conflict.
  std::optional<ErrorBody> add(const TriggerBinding& binding);
  // Removes the route registered by this binding, if it still owns its key.
  bool remove(const TriggerBinding& binding);

  // The route for `method` and the raw request path (no query string). A HEAD request falls back
  // to the GET route, as the reference's router does.
  std::optional<RouteMatch> match(std::string_view method, std::string_view path) const;

  size_t size() const;

  // `METHOD:path` with the method upper-cased and leading slashes removed ("/" stays "/").
  static std::string route_key(std::string_view method, std::string_view api_path);

 private:
  struct Node;
  std::shared_ptr<const HttpRoute> find_locked(const Node& root, std::string_view path, RouteMatch& out) const;
  void insert_locked(const std::shared_ptr<const HttpRoute>& route);
  void erase_locked(const HttpRoute& route);
  Node* root_for(std::string_view method, bool create);
  const Node* root_for(std::string_view method) const;

  mutable std::shared_mutex mu_;
  StringMap<std::shared_ptr<const HttpRoute>> by_key_;
  StringMap<std::string> key_by_trigger_;
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> roots_;  // one trie per method
};

// Splits a path (leading slashes removed) into its segments; "" ⇒ no segments.
std::vector<std::string_view> split_route_path(std::string_view path);

}  // namespace iii
