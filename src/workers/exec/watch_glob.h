// The `watch` patterns of the iii-exec built-in (docs/builtins.md §11.2), with the official
// engine's semantics: a pattern is reduced to a root directory and a set of file extensions, and
// the file-name part is otherwise ignored.
//
//   root        the text before the first `**`, then before the first `*`, without its trailing
//               `/` (empty: the base directory); resolved against the block's directory
//   recursive   the pattern contains `**`: files at any depth under the root match; otherwise
//               only files directly in the root
//   literal     no `*` at all: the pattern names one file, which is its root
//   extensions  the comma-separated list inside the first `{…}` (`*.{ts,js}`), or else the text
//               after the last `.` when it holds no `*`, `/` or brace; a pattern without one, and a
//               file without an extension (`Makefile`), never match
//
// So `src/**/*.test.ts` matches every `.ts` file under `src/`, and `config/*.json` the `.json`
// files directly in `config/`. Pure logic, no I/O: the inotify side is exec_file_watcher.h.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct WatchPattern {
  std::string text;                     // as written in the config
  std::filesystem::path root;           // absolute, normalised, no trailing separator
  bool recursive = false;
  bool literal = false;
  std::vector<std::string> extensions;  // without the dot; empty: the pattern never matches

  // Whether a change of `file` (an absolute path) is one this pattern watches.
  bool matches(const std::filesystem::path& file) const;
  // The directory to watch for it: the root, or a literal pattern's parent.
  std::filesystem::path directory() const { return literal ? root.parent_path() : root; }
};

// Parses one pattern relative to `base` (an absolute directory). Throws std::invalid_argument
// saying what is wrong: an empty pattern, or a `{` without its `}`.
WatchPattern parse_watch_pattern(std::string_view text, const std::filesystem::path& base);

// Whether any of `patterns` matches `file`.
bool any_watch_match(const std::vector<WatchPattern>& patterns, const std::filesystem::path& file);

// The extension of a file name as the matcher sees it: after the last `.`, none (empty) for a
// name without one or a dot file such as `.env`.
std::string_view file_extension(std::string_view file_name);

}  // namespace iii
