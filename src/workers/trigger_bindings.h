// What the built-in trigger types of state and stream share (docs/builtins.md §0.2): reading a
// binding's JSON config strictly, and the list of active bindings in activation order, where
// activating an id again replaces its binding in place.
#pragma once
#include <boost/json/object.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/error_body.h"
#include "workers/fire_sequence.h"

namespace iii {

// Rejections read "<prefix>: <why>" with code trigger_registration_failed.
class TriggerConfigReader {
 public:
  explicit TriggerConfigReader(std::string prefix) : prefix_(std::move(prefix)) {}

  ErrorBody reject(const std::string& why) const;
  // Parses `config` (raw JSON; empty or null reads as {}) into `out`; a rejection when it is not
  // JSON or not an object.
  std::optional<ErrorBody> parse(std::string_view config, boost::json::object& out) const;
  // Reads an optional string field; a rejection when it has another type.
  std::optional<ErrorBody> optional_string(const boost::json::object& config, std::string_view name,
                                           std::optional<std::string>& out) const;
  // Reads `condition_function_id` ("" when absent).
  std::optional<ErrorBody> condition(const boost::json::object& config, std::string& out) const;

 private:
  std::string prefix_;
};

// `Entry` is any struct with a `TriggerBinding binding` and a `std::string condition_function_id`.
template <class Entry>
class BindingList {
 public:
  void upsert(Entry entry) {
    std::lock_guard lock(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.binding.id == entry.binding.id; });
    if (it != entries_.end()) {
      *it = std::move(entry);
    } else {
      entries_.push_back(std::move(entry));
    }
  }
  void remove(std::string_view id) {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.binding.id == id; });
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  // The entries `matches(entry)` accepts, in activation order, as fire targets.
  template <class Pred>
  std::vector<FireTarget> select(Pred&& matches) const {
    std::vector<FireTarget> out;
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_)
      if (matches(e)) out.push_back(FireTarget{e.binding, e.condition_function_id});
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // activation order
};

}  // namespace iii
