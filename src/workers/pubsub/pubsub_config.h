// The `config:` block of the iii-pubsub built-in (docs/builtins.md §5):
//
//   adapter:          # default {name: local}
//     name: local     # in-process topics; `redis` is not supported yet
//
// The `local` adapter takes no options, so there is nothing to keep: parsing only validates.
#pragma once
#include <boost/json/value.hpp>

namespace iii {

// Validates a config block (null = defaults); throws BuiltinConfigError naming the key.
void parse_pubsub_config(const boost::json::value& config);

}  // namespace iii
