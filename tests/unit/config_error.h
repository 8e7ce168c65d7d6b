// What the config tests of the built-ins share: the message a parse of one block fails with.
#pragma once
#include <string>

#include "workers/builtin.h"

namespace iii {

// The BuiltinConfigError message of `parse()`, or "(accepted)" when it does not throw.
template <class Parse>
std::string config_error_of(Parse&& parse) {
  try {
    parse();
  } catch (const BuiltinConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace iii
