// Update operations (docs/builtins.md §0.4), shared by state::update and stream::update: an ordered
// list of small edits applied to one JSON value. Pure functions on Boost.JSON values; the caller
// makes the whole list atomic per key (KvStore::update).
//
// Rules:
//  * Paths are literal keys; a dot is never a separator ("a.b" is one key). set, increment,
//    decrement and remove take a string path ("" = the root, else one top-level key); merge and
//    append also take an array of segments (nested path; [] = the root).
//  * A missing stored value starts as {}.
//  * An op that cannot apply is skipped and reported as an OpError; the other ops still apply.
//  * Limits: path depth <= 32 segments, segment <= 256 bytes, no empty segment, no segment
//    "__proto__" / "constructor" / "prototype"; a merge value must be an object of nesting depth
//    <= 16 with <= 1024 top-level keys, none of them one of those three names.
//
// A malformed op list (not an array, unknown `type`, wrong field types, missing required fields)
// is not an op error but bad input: parse() rejects the whole request and nothing is applied.
#pragma once
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace iii::update_ops {

inline constexpr size_t kMaxPathDepth = 32;
inline constexpr size_t kMaxSegmentBytes = 256;
inline constexpr size_t kMaxValueDepth = 16;
inline constexpr size_t kMaxValueKeys = 1024;
inline constexpr const char* kDocUrl = "https://iii.dev/docs/workers/iii-state#error-codes";

enum class OpType { kSet, kMerge, kIncrement, kDecrement, kAppend, kRemove };

struct Op {
  OpType type = OpType::kSet;
  std::vector<std::string> path;  // literal segments; empty = the root
  boost::json::value value;       // set, merge, append (set: null when absent)
  int64_t by = 0;                 // increment, decrement
};

// One op that could not apply. `code` is e.g. "merge.path.too_deep" or "increment.not_number".
struct OpError {
  size_t op_index = 0;
  std::string code;
  std::string message;
};

struct Result {
  boost::json::value value;
  std::vector<OpError> errors;
};

// A malformed op list. what() names the op, e.g. "ops[2].by: invalid type: string \"x\", expected i64".
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Decodes the `ops` field of an update request. Throws ParseError.
std::vector<Op> parse(const boost::json::value& ops);

// Applies `ops` in order to `current` (nullopt: no stored value).
Result apply(std::optional<boost::json::value> current, const std::vector<Op>& ops);

// [{"op_index":n,"code":..,"message":..,"doc_url":..}, ...]
boost::json::array errors_to_json(const std::vector<OpError>& errors);

}  // namespace iii::update_ops
