// Checking JSON in the same On-Demand pass that reads it (simdjson's On-Demand API checks only
// what it is asked for). Shared by the frame parser (core/message.cpp) and the built-ins' input
// reader (core/json_members.h). Every file that includes this is compiled with the SIMD kernel
// (III_SIMD_SOURCES in CMakeLists.txt), as simdjson's On-Demand code is header-only.
#pragma once
#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace iii {

// A thread's padded copy of a text and an On-Demand parser to iterate it. The views a parse gives
// point into both, so each user keeps its own: OnDemandScratch::of<Tag>() is one per Tag and
// thread.
struct OnDemandScratch {
  std::string input;
  simdjson::ondemand::parser parser;

  // `text` copied with the padding simdjson reads past the end.
  simdjson::padded_string_view pad(std::string_view text) {
    input.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    input.assign(text.data(), text.size());
    return simdjson::padded_string_view(input.data(), input.size(), input.capacity());
  }
  template <class Tag>
  static OnDemandScratch& of() {
    thread_local OnDemandScratch scratch;
    return scratch;
  }
};

}  // namespace iii

namespace iii::json_walk {

// Visits every token of `v`, so that the whole value is checked: strings are unescaped to check
// their escapes; integers beyond 64 bits are valid JSON and pass. `depth` is the nesting level of
// `v` itself (a top-level member's value is at 2); an object or array deeper than
// json_depth_limit() is a DEPTH_ERROR.
simdjson::error_code check(simdjson::ondemand::value v, size_t depth);

// Checks `v` (at nesting level `depth`) and sets `text` to its raw JSON text as given, without
// trailing whitespace, and `type` to its type. A scalar is its one token; an object or array ends
// where the document's iterator stands once it is walked (at the `,` or `}` after it).
simdjson::error_code raw_text(simdjson::ondemand::document& doc, simdjson::ondemand::value v, size_t depth,
                              std::string_view& text, simdjson::ondemand::json_type& type);

}  // namespace iii::json_walk
