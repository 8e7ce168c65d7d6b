// Shared helpers for the benchmark programs: option parsing, a latency recorder with
// percentiles, payload builders, /proc readers, one-JSON-line output and a timed phase of
// closed-loop operations on N threads (run_phase + report).
//
// Every program prints one JSON object per measurement on stdout, e.g.
//   {"bench":"call_rtt","system":"iii","calls_per_s":12345.6,"p50_us":70.1,...}
// and logs progress on stderr only, so bench/run.sh can collect stdout as JSON lines.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// --key value / --flag options; flags without a value read as "1".
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0) continue;
      k = k.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) values_[k] = argv[++i];
      else values_[k] = "1";
    }
  }
  std::string str(const std::string& k, const std::string& def = "") const {
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  double num(const std::string& k, double def) const {
    auto it = values_.find(k);
    return it == values_.end() ? def : std::atof(it->second.c_str());
  }
  bool has(const std::string& k) const { return values_.count(k) != 0; }

 private:
  std::map<std::string, std::string> values_;
};

// Latencies in nanoseconds; one recorder per thread, merged at the end.
struct Latencies {
  std::vector<uint32_t> ns;  // capped at ~4.29 s, plenty for round trips
  void add(Clock::duration d) {
    auto v = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    ns.push_back(v > 0xFFFFFFFFll ? 0xFFFFFFFFu : static_cast<uint32_t>(v));
  }
  void merge(const Latencies& o) { ns.insert(ns.end(), o.ns.begin(), o.ns.end()); }
  // q in [0,1]; microseconds.
  double pct_us(double q) {
    if (ns.empty()) return 0;
    if (!sorted_) { std::sort(ns.begin(), ns.end()); sorted_ = true; }
    size_t i = std::min(ns.size() - 1, static_cast<size_t>(q * (ns.size() - 1) + 0.5));
    return ns[i] / 1000.0;
  }

 private:
  bool sorted_ = false;
};

// A JSON object of exactly `bytes` bytes (>= 32): {"id":1,"kind":"bench","pad":"xxxx..."}.
// 200 bytes is the issue's standard payload.
inline std::string make_payload(size_t bytes) {
  std::string head = R"({"id":12345,"user":"bench-user","tags":["a","b","c"],"pad":")";
  std::string tail = "\"}";
  size_t pad = bytes > head.size() + tail.size() ? bytes - head.size() - tail.size() : 0;
  std::string s = head;
  for (size_t i = 0; i < pad; ++i) s.push_back(static_cast<char>('a' + i % 26));
  return s + tail;
}

// utime+stime of a process in seconds (/proc/<pid>/stat fields 14 and 15); -1 if unreadable.
inline double process_cpu_seconds(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return -1;
  std::istringstream in(s.substr(p + 2));
  std::string field;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) ut = std::stoull(field);
    if (i == 15) st = std::stoull(field);
  }
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

// VmRSS in KiB; -1 if unreadable.
inline long process_rss_kib(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// Minimal JSON line writer: {"k":v,...}
class Line {
 public:
  Line& s(const std::string& k, const std::string& v) {
    sep(); out_ << '"' << k << "\":\"" << v << '"'; return *this;
  }
  Line& n(const std::string& k, double v) {
    sep(); char buf[64]; std::snprintf(buf, sizeof buf, "%.6g", v); out_ << '"' << k << "\":" << buf; return *this;
  }
  // An exact integer (n() keeps 6 significant digits).
  Line& u(const std::string& k, unsigned long long v) {
    sep(); out_ << '"' << k << "\":" << v; return *this;
  }
  void print() { std::printf("{%s}\n", out_.str().c_str()); std::fflush(stdout); }

 private:
  void sep() { if (!first_) out_ << ','; first_ = false; }
  std::ostringstream out_;
  bool first_ = true;
};

// One thread's share of a phase run by run_phase.
struct PhaseResult {
  uint64_t ops = 0;
  Latencies lat;
  std::string error;
};

// Runs op(thread, i) on `threads` threads for `seconds` (after a short warm-up), each thread one
// operation at a time; only the operations started during the measurement are counted. Returns the
// measured seconds; an exception in a thread ends that thread and is kept in out[thread].error.
template <class Op>
double run_phase(int threads, double seconds, Op op, std::vector<PhaseResult>& out) {
  std::atomic<int> phase{0};  // 0 warm-up, 1 measurement, 2 stop
  out.assign(threads, {});
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      try {
        for (uint64_t i = t;; i += threads) {
          int p = phase.load(std::memory_order_relaxed);
          if (p == 2) break;
          auto t0 = Clock::now();
          op(t, i);
          if (p == 1) {
            out[t].lat.add(Clock::now() - t0);
            ++out[t].ops;
          }
        }
      } catch (const std::exception& e) {
        out[t].error = e.what();
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.5, seconds * 0.1)));
  auto t0 = Clock::now();
  phase = 1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  double elapsed = seconds_since(t0);
  phase = 2;
  for (auto& t : ts) t.join();
  return elapsed;
}

// Prints the line of one phase ({"bench":name,"system":..,"concurrency":..,"ops":..,"ops_per_s":..,
// "p50_us":..,"p99_us":..}), or the first thread's error on stderr and false.
inline bool report(const std::string& name, const std::string& system, int conc, double elapsed,
                   std::vector<PhaseResult>& rs) {
  Latencies all;
  uint64_t ops = 0;
  for (auto& r : rs) {
    if (!r.error.empty()) {
      std::cerr << system << " " << name << ": " << r.error << "\n";
      return false;
    }
    ops += r.ops;
    all.merge(r.lat);
  }
  Line().s("bench", name).s("system", system).n("concurrency", conc).n("ops", ops)
      .n("ops_per_s", ops / elapsed).n("p50_us", all.pct_us(0.5)).n("p99_us", all.pct_us(0.99)).print();
  return true;
}

}  // namespace bench
