// Hash maps keyed by std::string that can be looked up with a std::string_view (no allocation).
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include <boost/unordered/unordered_flat_map.hpp>

namespace iii {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = boost::unordered_flat_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace iii
