// A fresh directory under the system temp dir for one test, removed when it goes out of scope.
#pragma once
#include <filesystem>
#include <string>
#include <system_error>

#include "wire/uuid.h"

namespace iii::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "iii-test-")
      : path_(std::filesystem::temp_directory_path() / (prefix + new_uuid())) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace iii::testing
