// The iii-cluster config block (src/workers/cluster/cluster_config.h): defaults that work for
// engines on one host, and errors that name the key.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "config_error.h"
#include "workers/cluster/cluster_config.h"

namespace iii {
namespace {

ClusterConfig config_of(std::string_view block) { return parse_cluster_config(boost::json::parse(block)); }

std::string config_error(std::string_view block) {
  return config_error_of([&] { config_of(block); });
}

TEST(ClusterConfig, DefaultsWorkOnOneHost) {
  const ClusterConfig c = config_of("null");
  EXPECT_EQ(c.redis_url, "redis://localhost:6379");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.advertise_address, "");
  EXPECT_EQ(c.lease, std::chrono::milliseconds(3000));
  EXPECT_EQ(c.heartbeat, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.secret, "");
}

TEST(ClusterConfig, ReadsEveryKey) {
  const ClusterConfig c = config_of(
      R"({"redis_url":"redis://r:7000","host":"0.0.0.0","port":4000,"advertise_address":"10.0.0.5:4000",)"
      R"("name":"east","lease_ms":6000,"heartbeat_ms":500,"secret":"s3"})");
  EXPECT_EQ(c.redis_url, "redis://r:7000");
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 4000);
  EXPECT_EQ(c.advertise_address, "10.0.0.5:4000");
  EXPECT_EQ(c.name, "east");
  EXPECT_EQ(c.lease, std::chrono::milliseconds(6000));
  EXPECT_EQ(c.heartbeat, std::chrono::milliseconds(500));
  EXPECT_EQ(c.secret, "s3");
  // The heartbeat follows the lease when only the lease is given.
  EXPECT_EQ(config_of(R"({"lease_ms":900})").heartbeat, std::chrono::milliseconds(300));
}

TEST(ClusterConfig, RejectsBadBlocksNamingTheKey) {
  auto has = [](std::string_view block, std::string_view text) {
    const std::string e = config_error(block);
    EXPECT_NE(e.find(text), std::string::npos) << block << " → " << e;
  };
  has(R"({"colour":"blue"})", "unknown key `colour`");
  has(R"({"redis_url":"http://x"})", "`redis_url`");
  has(R"({"redis_url":5})", "`redis_url`");
  has(R"({"host":""})", "`host` must not be empty");
  has(R"({"port":70000})", "`port`");
  has(R"({"advertise_address":"nohost"})", "must be host:port, got `nohost`");
  has(R"({"advertise_address":"h:p"})", "must be host:port");
  has(R"({"lease_ms":10})", "`lease_ms`");
  has(R"({"lease_ms":3000,"heartbeat_ms":1001})", "`heartbeat_ms` must be at most a third of lease_ms (3000)");
  EXPECT_EQ(config_error(R"({"lease_ms":3000,"heartbeat_ms":1000})"), "(accepted)");
}

}  // namespace
}  // namespace iii
