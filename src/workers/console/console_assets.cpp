#include "workers/console/console_assets.h"

namespace iii {

const ConsoleAsset* find_console_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (size_t i = 0; i < kConsoleAssetCount; ++i)
    if (kConsoleAssets[i].path == path) return &kConsoleAssets[i];
  return nullptr;
}

}  // namespace iii
