// The console's web pages, compiled into the binary (docs/builtins.md §15): the files under
// console/ at the repository root become byte arrays in a generated source
// (cmake/embed_console_assets.cmake, run by the build), so nothing is read from disk or
// downloaded at run time.
#pragma once
#include <cstddef>
#include <string_view>

namespace iii {

struct ConsoleAsset {
  std::string_view path;          // "/index.html", "/console.js", …
  std::string_view content_type;  // from the extension
  std::string_view bytes;
};

// The generated table (build/generated/console_assets_data.cpp).
extern const ConsoleAsset kConsoleAssets[];
extern const size_t kConsoleAssetCount;

// The asset served at `path`; nullptr when there is none.
const ConsoleAsset* find_console_asset(std::string_view path);

}  // namespace iii
