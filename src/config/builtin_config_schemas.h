// The configuration entries the built-ins publish in the `configuration` worker
// (docs/builtins.md §0.3): for each built-in with a config block, its configuration id (its
// canonical name), a display name, a description and the JSON Schema of its block.
#pragma once
#include <string_view>

namespace iii::config {

struct BuiltinConfigSchema {
  std::string_view id;  // = the built-in's canonical name, e.g. "iii-http"
  std::string_view name;
  std::string_view description;
  std::string_view schema;  // JSON
};

// The entry of built-in `name` (canonical), or null when it publishes none.
const BuiltinConfigSchema* builtin_config_schema(std::string_view name);

}  // namespace iii::config
