#include "workers/configuration/configuration_config.h"

#include <boost/json.hpp>

#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr ConfigReader reader{kConfigurationWorkerName};

}  // namespace

ConfigurationConfig parse_configuration_config(const json::value& config, const std::filesystem::path& working_dir) {
  ConfigurationConfig out;
  std::string directory = "./config";
  require_known_keys(config, kConfigurationWorkerName, {"adapter", "ttl_seconds"});
  if (config.is_object()) {
    const json::object& o = config.get_object();
    if (const json::value* ttl = ConfigReader::field(o, "ttl_seconds"))
      out.ttl_seconds = reader.integer(*ttl, "ttl_seconds", 0, 10ull * 365 * 24 * 3600);
    if (const json::value* adapter = ConfigReader::field(o, "adapter")) {
      const auto [name, c] = reader.adapter(*adapter, "fs, bridge");
      if (name == "bridge") {
        out.bridge_url = reader.bridge_url(c);
      } else if (name != "fs") {
        reader.fail("adapter.name", "`" + name + "` is not a configuration adapter (supported: fs, bridge)");
      } else {
        require_known_keys(c, std::string(kConfigurationWorkerName) + " adapter `fs`", {"directory"});
        if (c.is_object())
          if (const json::value* d = ConfigReader::field(c.get_object(), "directory")) {
            directory = reader.string(*d, "adapter.config.directory");
            if (directory.empty()) reader.fail("adapter.config.directory", "must not be empty");
          }
      }
    }
  }
  out.directory = (working_dir / directory).lexically_normal();
  return out;
}

}  // namespace iii
