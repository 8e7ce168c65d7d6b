// State benchmark (issue 5, item 5): state::set then state::get, called from one C++ SDK worker
// connection by N threads (one call in flight each), against redis-server SET then GET from N
// hiredis connections (one command in flight each, no pipelining) - the same concurrency.
// Keys cycle over 1,000 names; values are the 200-byte JSON payload.
//
//   bench_state --system iii --url ws://127.0.0.1:P       [--concurrency 16] [--seconds 4]
//   bench_state --system redis --redis 127.0.0.1:PORT
//   options: --label L (the `system` of the output lines; default the --system)
// Prints one line for set and one for get; each phase runs for seconds/2.
#include <hiredis/hiredis.h>
#include <iii/iii.h>

#include <csignal>
#include <iostream>

#include "common.h"

namespace json = boost::json;

namespace {
constexpr int kKeys = 1000;
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string system = args.str("system", "iii");
  const std::string label = args.str("label", system);  // the `system` of the output lines
  const int conc = static_cast<int>(args.num("concurrency", 16));
  const double half = args.num("seconds", 4) / 2;
  const std::string payload_text = bench::make_payload(200);
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back("key-" + std::to_string(k));
  std::vector<bench::PhaseResult> rs;
  bool ok = true;

  if (system == "iii") {
    iii::Worker worker({.url = args.str("url"), .name = "bench-state", .quiet = true});
    if (!worker.wait_connected(std::chrono::seconds(10))) { std::cerr << "not connected\n"; return 1; }
    const json::value value = json::parse(payload_text);
    auto set = [&](int, uint64_t i) {
      worker.trigger("state::set", {{"scope", "bench"}, {"key", keys[i % kKeys]}, {"value", value}});
    };
    auto get = [&](int, uint64_t i) {
      json::value v = worker.trigger("state::get", {{"scope", "bench"}, {"key", keys[i % kKeys]}});
      if (!v.is_object()) throw std::runtime_error("state::get returned no object");
    };
    for (int k = 0; k < kKeys; ++k) set(0, k);  // every key exists before the get phase
    double e = bench::run_phase(conc, half, set, rs);
    ok = bench::report("state_set", label, conc, e, rs) && ok;
    e = bench::run_phase(conc, half, get, rs);
    ok = bench::report("state_get", label, conc, e, rs) && ok;
  } else {
    std::string addr = args.str("redis", "127.0.0.1:6379");
    std::string host = addr.substr(0, addr.rfind(':'));
    int port = std::atoi(addr.c_str() + addr.rfind(':') + 1);
    std::vector<redisContext*> ctx;
    for (int t = 0; t < conc; ++t) {
      redisContext* c = redisConnect(host.c_str(), port);
      if (!c || c->err) { std::cerr << "redis connect failed\n"; return 1; }
      ctx.push_back(c);
    }
    auto cmd = [&](int t, const char* fmt, const std::string& key, bool with_value) {
      redisReply* r = static_cast<redisReply*>(
          with_value ? redisCommand(ctx[t], fmt, key.data(), key.size(), payload_text.data(), payload_text.size())
                     : redisCommand(ctx[t], fmt, key.data(), key.size()));
      if (!r || r->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis command failed");
      if (!with_value && r->type != REDIS_REPLY_STRING) throw std::runtime_error("GET returned no value");
      freeReplyObject(r);
    };
    auto set = [&](int t, uint64_t i) { cmd(t, "SET bench:%b %b", keys[i % kKeys], true); };
    auto get = [&](int t, uint64_t i) { cmd(t, "GET bench:%b", keys[i % kKeys], false); };
    for (int k = 0; k < kKeys; ++k) set(0, k);
    double e = bench::run_phase(conc, half, set, rs);
    ok = bench::report("state_set", label, conc, e, rs) && ok;
    e = bench::run_phase(conc, half, get, rs);
    ok = bench::report("state_get", label, conc, e, rs) && ok;
  }
  std::quick_exit(ok ? 0 : 1);
}
