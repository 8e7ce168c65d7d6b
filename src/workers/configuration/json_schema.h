// A JSON Schema compiled once and used to validate many values: what `configuration::register`
// keeps for each entry and `configuration::set` checks against (docs/builtins.md §7.2).
//
// Validation is valijson's (the headers of Debian's libvalijson-dev, which scripts/install-deps.sh
// takes without the package's dependencies), which knows drafts 3, 4 and 7. The dialect
// is chosen by the schema's `$schema`: draft-04 (and draft-03) as such, everything else as
// draft 7. Schemas that name 2019-09 or 2020-12 (Python's pydantic writes these, with `$defs`)
// are first rewritten into their draft-7 equivalents where one exists: `prefixItems` → `items`
// (+ `additionalItems`), `dependentRequired` / `dependentSchemas` → `dependencies`, and a `$ref`
// with sibling keywords → `allOf: [{$ref}]` (2019+ applies the siblings, draft 7 ignores them).
// `$defs` needs no rewrite: local `$ref`s are JSON pointers. Keywords without an equivalent
// (`unevaluatedProperties`, `$dynamicRef`, …) are ignored, as unknown keywords are. Remote
// `$ref`s are never fetched: such a schema does not compile. `format` is checked only for the
// formats valijson knows (tests/unit/json_schema_test.cpp lists what is not supported).
#pragma once
#include <boost/json/value.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace iii {

struct JsonSchemaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class JsonSchema {
 public:
  // Compiles `schema` (an object or a boolean). Throws JsonSchemaError with a readable reason
  // ("invalid JSON Schema: …") when it cannot be used.
  static std::shared_ptr<const JsonSchema> compile(const boost::json::value& schema);
  ~JsonSchema();

  // The violations of `value`, each "<where>: <what>" with `where` a JSON pointer ("/" for the
  // root), at most `limit` of them; empty when `value` is valid. Thread-safe.
  std::vector<std::string> validate(const boost::json::value& value, size_t limit = 16) const;

 private:
  struct Impl;
  explicit JsonSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iii
