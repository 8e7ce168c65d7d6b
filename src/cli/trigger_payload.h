// Pure helpers of `iii trigger` (docs/config.md §10.2): the payload built from `key=value`
// tokens and `--json`, and the pretty JSON the command prints. No I/O, so they unit-test alone.
#pragma once
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

namespace iii::cli {

// Either a payload or the message explaining why the arguments are wrong.
struct TriggerPayload {
  boost::json::value payload;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

// Rules, in order:
//   1. no tokens, no --json      → {}
//   2. only --json               → that JSON value as-is (any type)
//   3. only tokens               → an object; each token splits at its first '='; the value is
//                                  parsed as JSON when valid, else kept as a string; later
//                                  duplicates win; keys are literal (no nesting)
//   4. both                      → --json must be an object; tokens overwrite/add top-level keys
TriggerPayload build_trigger_payload(const std::vector<std::string>& kv_tokens,
                                     const std::optional<std::string>& json_flag);

// JSON with 2-space indentation, `"key": value`, and `{}` / `[]` for empty containers
// (the layout serde_json's pretty printer uses, which the reference CLI prints).
std::string pretty_json(const boost::json::value& value);

}  // namespace iii::cli
