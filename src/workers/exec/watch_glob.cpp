#include "workers/exec/watch_glob.h"

#include <stdexcept>

namespace iii {
namespace {

namespace fs = std::filesystem;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The root as written: before the first `**`, then before the first `*`, trailing `/` removed.
std::string_view root_text(std::string_view pattern) {
  std::string_view root = pattern.substr(0, pattern.find("**"));
  root = root.substr(0, root.find('*'));
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  return root;
}

std::vector<std::string> extensions_of(std::string_view pattern) {
  std::vector<std::string> out;
  if (const size_t open = pattern.find('{'); open != std::string_view::npos) {
    const size_t close = pattern.find('}', open);
    if (close == std::string_view::npos) throw std::invalid_argument("has a `{` without its `}`");
    std::string_view list = pattern.substr(open + 1, close - open - 1);
    for (;;) {
      const size_t comma = list.find(',');
      const std::string_view item = trim(list.substr(0, comma));
      if (!item.empty()) out.emplace_back(item);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return out;
  }
  const size_t dot = pattern.rfind('.');
  if (dot == std::string_view::npos) return out;
  const std::string_view ext = pattern.substr(dot + 1);
  if (!ext.empty() && ext.find_first_of("*/}") == std::string_view::npos) out.emplace_back(ext);
  return out;
}

// Whether `file` lies strictly below `dir` (both normalised and absolute).
bool is_below(const fs::path& file, const fs::path& dir) {
  auto f = file.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++f) {
    if (d->empty()) continue;  // the empty element after a trailing separator
    if (f == file.end() || *f != *d) return false;
  }
  return f != file.end();
}

}  // namespace

std::string_view file_extension(std::string_view file_name) {
  const size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return file_name.substr(dot + 1);
}

WatchPattern parse_watch_pattern(std::string_view text, const fs::path& base) {
  if (trim(text).empty()) throw std::invalid_argument("must not be empty");
  WatchPattern p;
  p.text = std::string(text);
  p.recursive = text.find("**") != std::string_view::npos;
  p.literal = text.find('*') == std::string_view::npos;
  p.extensions = extensions_of(text);
  const std::string_view root = root_text(text);
  fs::path resolved = (root.empty() ? base : base / fs::path(root)).lexically_normal();
  if (resolved.has_relative_path() && !resolved.has_filename()) resolved = resolved.parent_path();  // "a/b/"
  p.root = std::move(resolved);
  return p;
}

bool WatchPattern::matches(const fs::path& file) const {
  const std::string name = file.filename().string();
  const std::string_view ext = file_extension(name);
  if (ext.empty()) return false;
  bool known = false;
  for (const auto& e : extensions) known = known || e == ext;
  if (!known) return false;
  if (literal) return file == root;
  if (recursive) return is_below(file, root);
  return file.parent_path() == root;
}

bool any_watch_match(const std::vector<WatchPattern>& patterns, const fs::path& file) {
  for (const auto& p : patterns)
    if (p.matches(file)) return true;
  return false;
}

}  // namespace iii
