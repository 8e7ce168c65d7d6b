// State benchmark (issue 5, item 5; issue 14): state::set then state::get with N operations in
// flight, against redis-server SET then GET from N hiredis connections with one command in flight
// each (no pipelining): the same concurrency. Each side runs in one of two ways (--api), and
// bench/report.py reports the better of each, named:
//   iii   blocking  one C++ SDK worker connection, N threads, one blocking trigger() each
//         callback  the same connection, N chains of trigger_then calls kept going from the
//                   connection's I/O thread (no calling threads)
//         raw       the same chains with the SDK's raw forms (payload_json, trigger_raw_then): the
//                   requests are JSON text built once, the answers read as text (no DOM on
//                   either side of the SDK), as hiredis sends bytes and hands a reply back
//   redis blocking  N blocking hiredis connections, one thread each
//         loop      the same N connections driven by one thread with poll() (hiredis's
//                   non-blocking calls), one command in flight on each
// Keys cycle over 1,000 names; values are the 200-byte JSON payload.
//
//   bench_state --system iii --url ws://127.0.0.1:P       [--concurrency 16] [--seconds 4] [--api blocking|callback|raw]
//   bench_state --system redis --redis 127.0.0.1:PORT                                      [--api blocking|loop]
//   options: --label L (the `system` of the output lines; default the --system)
// Prints one line for set and one for get; each phase runs for seconds/2.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <iii/iii.h>
#include <poll.h>

#include <csignal>
#include <functional>
#include <iostream>

#include "common.h"

namespace json = boost::json;

namespace {

constexpr int kKeys = 1000;
using bench::Clock;

// One operation started by a chain: `done` is called once with "" or an error.
using Done = std::function<void(const std::string& error)>;

// Keeps `conc` chains of operations going, each starting its next operation from the completion
// of the previous one, for `seconds` after a warm-up (as bench::run_phase, which uses threads).
// `issue(i, done)` starts operation i. Completions may run on any one thread at a time per chain.
// Returns the measured seconds; waits (30 s at most) for every chain to stop.
class Chains {
 public:
  using Issue = std::function<void(uint64_t i, Done done)>;
  Chains(int conc, Issue issue, std::vector<bench::PhaseResult>& out) : conc_(conc), issue_(std::move(issue)), out_(out) {
    out_.assign(conc, {});
  }

  double run(double seconds, const std::function<void()>& pump = {}) {
    running_ = conc_;
    for (int s = 0; s < conc_; ++s) next(s, static_cast<uint64_t>(s));
    wait_until(Clock::now() + after(std::min(0.5, seconds * 0.1)), pump);
    const auto t0 = Clock::now();
    phase_ = 1;
    wait_until(t0 + after(seconds), pump);
    const double elapsed = bench::seconds_since(t0);
    phase_ = 2;
    const auto limit = Clock::now() + std::chrono::seconds(30);
    while (running_.load() > 0 && Clock::now() < limit) {
      if (pump) pump();
      else std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (running_.load() > 0) out_[0].error = "chains did not stop within 30 s";
    return elapsed;
  }

 private:
  void next(int slot, uint64_t i) {
    const auto t0 = Clock::now();
    const bool measured = phase_.load(std::memory_order_relaxed) == 1;
    issue_(i, [this, slot, i, t0, measured](const std::string& error) {
      if (!error.empty()) {
        out_[slot].error = error;
        --running_;
        return;
      }
      if (measured) {
        out_[slot].lat.add(Clock::now() - t0);
        ++out_[slot].ops;
      }
      if (phase_.load(std::memory_order_relaxed) == 2) {
        --running_;
        return;
      }
      next(slot, i + static_cast<uint64_t>(conc_));
    });
  }

  static Clock::duration after(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
  // Sleeps until `t`, or runs `pump` (an event loop's turn) until then.
  static void wait_until(Clock::time_point t, const std::function<void()>& pump) {
    if (!pump) return std::this_thread::sleep_until(t);
    while (Clock::now() < t) pump();
  }

  const int conc_;
  const Issue issue_;
  std::vector<bench::PhaseResult>& out_;
  std::atomic<int> phase_{0};
  std::atomic<int> running_{0};
};

// --api loop for Redis: `conns` non-blocking hiredis contexts driven from this thread by poll().
class RedisLoop {
 public:
  explicit RedisLoop(std::vector<redisContext*> ctx) : ctx_(std::move(ctx)), waiting_(ctx_.size()) {
    for (redisContext* c : ctx_) {
      ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
      c->flags &= ~REDIS_BLOCK;
    }
  }
  // Sends one command on connection `conn` (which has none in flight); `done` gets the reply.
  void send(size_t conn, const std::vector<std::string_view>& args, std::function<void(redisReply*)> done) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (std::string_view a : args) argv.push_back(a.data()), lens.push_back(a.size());
    redisContext* c = ctx_[conn];
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
    int written = 0;
    while (!written)
      if (redisBufferWrite(c, &written) != REDIS_OK) throw std::runtime_error("redis write failed");
    waiting_[conn] = std::move(done);
  }
  // One poll() turn: reads every connection that has something, answering its command.
  void turn() {
    std::vector<pollfd> fds;
    for (redisContext* c : ctx_) fds.push_back(pollfd{c->fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 100) <= 0) return;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLERR | POLLHUP))) continue;
      if (redisBufferRead(ctx_[k]) != REDIS_OK) throw std::runtime_error("redis read failed");
      void* reply = nullptr;
      if (redisGetReplyFromReader(ctx_[k], &reply) != REDIS_OK) throw std::runtime_error("bad redis reply");
      if (!reply) continue;
      auto done = std::move(waiting_[k]);
      done(static_cast<redisReply*>(reply));
      freeReplyObject(reply);
    }
  }

 private:
  std::vector<redisContext*> ctx_;
  std::vector<std::function<void(redisReply*)>> waiting_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string system = args.str("system", "iii");
  const std::string label = args.str("label", system);  // the `system` of the output lines
  const std::string api = args.str("api", "blocking");
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
    auto set_request = [&](uint64_t i) -> json::value {
      return {{"scope", "bench"}, {"key", keys[i % kKeys]}, {"value", value}};
    };
    auto get_request = [&](uint64_t i) -> json::value { return {{"scope", "bench"}, {"key", keys[i % kKeys]}}; };
    for (int k = 0; k < kKeys; ++k) worker.trigger("state::set", set_request(k));  // every key exists before get
    if (api == "raw") {
      // Each key's two requests as text, built once (the payload's text is spliced in as is).
      std::vector<std::string> set_texts, get_texts;
      for (const std::string& key : keys) {
        get_texts.push_back(R"({"scope":"bench","key":")" + key + R"("})");
        set_texts.push_back(R"({"scope":"bench","key":")" + key + R"(","value":)" + payload_text + "}");
      }
      auto chained = [&](const char* function_id, const std::vector<std::string>& texts, bool want_object) {
        return [&worker, function_id, &texts, want_object](uint64_t i, Done done) {
          worker.trigger_raw_then({.function_id = function_id, .payload_json = texts[i % kKeys]},
                                  [done = std::move(done), want_object](std::string_view result,
                                                                        std::optional<iii::InvocationError> e) {
                                    if (e) return done(e->what());
                                    done(want_object && (result.empty() || result.front() != '{')
                                             ? "state::get returned no object"
                                             : "");
                                  });
        };
      };
      double e = Chains(conc, chained("state::set", set_texts, false), rs).run(half);
      ok = bench::report("state_set", label, conc, e, rs) && ok;
      e = Chains(conc, chained("state::get", get_texts, true), rs).run(half);
      ok = bench::report("state_get", label, conc, e, rs) && ok;
    } else if (api == "callback") {
      auto chained = [&](const char* function_id, auto request, bool want_object) {
        return [&worker, function_id, request, want_object](uint64_t i, Done done) {
          worker.trigger_then({.function_id = function_id, .payload = request(i)},
                              [done = std::move(done), want_object](json::value v, std::optional<iii::InvocationError> e) {
                                if (e) return done(e->what());
                                done(want_object && !v.is_object() ? "state::get returned no object" : "");
                              });
        };
      };
      double e = Chains(conc, chained("state::set", set_request, false), rs).run(half);
      ok = bench::report("state_set", label, conc, e, rs) && ok;
      e = Chains(conc, chained("state::get", get_request, true), rs).run(half);
      ok = bench::report("state_get", label, conc, e, rs) && ok;
    } else {
      auto set = [&](int, uint64_t i) { worker.trigger("state::set", set_request(i)); };
      auto get = [&](int, uint64_t i) {
        json::value v = worker.trigger("state::get", get_request(i));
        if (!v.is_object()) throw std::runtime_error("state::get returned no object");
      };
      double e = bench::run_phase(conc, half, set, rs);
      ok = bench::report("state_set", label, conc, e, rs) && ok;
      e = bench::run_phase(conc, half, get, rs);
      ok = bench::report("state_get", label, conc, e, rs) && ok;
    }
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
    if (api == "loop") {
      RedisLoop loop(ctx);
      // Chain s issues operations s, s + conc, ...: on connection s, always one in flight.
      auto on_loop = [&](bool with_value) {
        return [&, with_value](uint64_t i, Done done) {
          const std::string key = "bench:" + keys[i % kKeys];
          std::vector<std::string_view> command{with_value ? "SET" : "GET", key};
          if (with_value) command.push_back(payload_text);
          loop.send(i % static_cast<uint64_t>(conc), command, [done = std::move(done), with_value](redisReply* r) {
            if (r->type == REDIS_REPLY_ERROR) return done("redis command failed");
            done(!with_value && r->type != REDIS_REPLY_STRING ? "GET returned no value" : "");
          });
        };
      };
      const auto pump = [&] { loop.turn(); };
      double e = Chains(conc, on_loop(true), rs).run(half, pump);
      ok = bench::report("state_set", label, conc, e, rs) && ok;
      e = Chains(conc, on_loop(false), rs).run(half, pump);
      ok = bench::report("state_get", label, conc, e, rs) && ok;
    } else {
      double e = bench::run_phase(conc, half, set, rs);
      ok = bench::report("state_set", label, conc, e, rs) && ok;
      e = bench::run_phase(conc, half, get, rs);
      ok = bench::report("state_get", label, conc, e, rs) && ok;
    }
  }
  std::quick_exit(ok ? 0 : 1);
}
