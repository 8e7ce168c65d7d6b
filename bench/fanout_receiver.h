// The receiving side of the stream fan-out benchmark (bench_stream --mode fanout): epoll threads
// that open N sockets, subscribe each one and then read every event on every socket, for our
// stream port (WebSocket: upgrade, join, wait for the sync message, then unmasked server frames)
// and for nats-server (NATS text protocol: CONNECT + SUB + PING, then MSG lines) the same way.
//
// Both systems are read by this one harness on purpose: the same threads, the same epoll loop,
// the same non-blocking reads into the same buffer, hand-written parsers of similar cost and one
// scanner (scan_event) for "t" and "seq" in both systems' bytes. So the client side costs the same
// on both sides, and a difference in deliveries/s or in latency is the servers', not the clients'
// (a WebSocket library on one side and libnats on the other would measure the libraries too).
//
// Also here: the state one fan-out run shares between the receivers and the writer (FanoutShared:
// a ring of per-event counters of how many sockets have each event, the watermark the writer waits
// on, the phase, the first error) and the clock the writer stamps "t" with (now_ns).
// Only bench_stream.cpp includes it (one copy per including file: see the namespace below).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common.h"

// Internal linkage (the inner anonymous namespace), as when this code was part of bench_stream.cpp:
// the compiler sees every caller and inlines the receive path (loop -> on_event -> ws_parse /
// nats_parse -> event) into one function; with external linkage GCC keeps on_event out of line.
namespace fanout {
namespace {

using bench::Clock;

const Clock::time_point g_base = Clock::now();  // "t" in every event is ns since this point

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - g_base).count();
}

enum Phase { kWarmup = 0, kMeasure = 1, kStop = 2 };

// ------------------------------------------------------------------ shared state of one fan-out run
constexpr int64_t kRing = 1 << 14;  // > window; counters of events not yet seen by every socket

struct FanoutShared {
  int n = 0;  // sockets
  std::unique_ptr<std::atomic<uint32_t>[]> count{new std::atomic<uint32_t>[kRing]()};
  std::atomic<int64_t> watermark{-1};  // every event <= watermark has reached every socket
  std::atomic<int> ready{0};           // sockets connected, subscribed and synced
  std::atomic<int> phase{kWarmup};
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::mutex m;
  std::condition_variable cv;
  std::atomic<bool> writer_waiting{false};
  std::string error;  // under m

  void fail(const std::string& why) {
    std::lock_guard lock(m);
    if (!failed.exchange(true)) error = why;
    cv.notify_all();
  }
  void advance(int64_t seq) {
    int64_t cur = watermark.load();
    while (cur < seq && !watermark.compare_exchange_weak(cur, seq)) {
    }
    if (writer_waiting.load()) {
      std::lock_guard lock(m);
      cv.notify_one();
    }
  }
};

enum SockState { kConnecting, kHandshake, kJoining, kReady };

struct Sock {
  int fd = -1;
  int index = 0;
  SockState state = kConnecting;
  std::string in;   // bytes not parsed yet
  std::string msg;  // a fragmented WebSocket message being assembled
  std::atomic<int64_t> last_seq{-1};
};

struct RecvStats {
  uint64_t delivered = 0;  // receipts during the measurement
  uint64_t lost = 0;       // events a socket skipped (a gap in seq)
  uint64_t other = 0;      // messages that were not change events
  uint64_t reads = 0;      // read() calls that returned bytes during the measurement
  bench::Latencies lat;
};

// Position of key in text (memmem: much cheaper than string_view::find's memchr on '"', which
// stops at every quote of the message), npos when absent.
size_t find_key(std::string_view text, std::string_view key) {
  const void* p = memmem(text.data(), text.size(), key.data(), key.size());
  return p ? static_cast<size_t>(static_cast<const char*>(p) - text.data()) : std::string_view::npos;
}

// Reads the number after "key": in text (JSON written by anyone: optional spaces, integer or float).
bool find_number(std::string_view text, std::string_view key, double& out) {
  size_t p = find_key(text, key);
  if (p == std::string_view::npos) return false;
  p += key.size();
  while (p < text.size() && (text[p] == ' ' || text[p] == ':' || text[p] == '\t')) ++p;
  const char* b = text.data() + p;
  const char* e = text.data() + text.size();
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc();
}

// The number after `"key"`, optional spaces and `:` at text[p] (p just past the key).
bool number_at(std::string_view text, size_t p, double& out) {
  while (p < text.size() && (text[p] == ' ' || text[p] == ':' || text[p] == '\t')) ++p;
  if (p >= text.size()) return false;
  return std::from_chars(text.data() + p, text.data() + text.size(), out).ec == std::errc();
}

// "seq" and "t" of one event, the same scan for both systems' bytes. A general substring search
// stops at every '"' of our ~115-byte envelope before reaching the data (and memmem is not
// vectorised), which would bill our side for the harness; instead: memchr for 'q' (no 'q' in the
// envelope or before "seq" in the data), then "t" searched backwards from there (it is written
// just before "seq"), falling back to a plain search when the keys come in another order.
bool scan_event(std::string_view text, double& seq, double& t) {
  size_t k = std::string_view::npos;
  for (const char* q = text.data(); (q = static_cast<const char*>(memchr(q, 'q', text.data() + text.size() - q)));
       ++q) {
    size_t i = static_cast<size_t>(q - text.data());
    if (i >= 3 && i + 1 < text.size() && text[i + 1] == '"' && text.compare(i - 3, 3, "\"se") == 0) {
      k = i - 3;
      break;
    }
  }
  if (k == std::string_view::npos || !number_at(text, k + 5, seq)) return false;
  for (size_t i = k; i-- > 0 && k - i < 64;)
    if (text[i] == '"' && i + 2 < text.size() && text[i + 1] == 't' && text[i + 2] == '"') return number_at(text, i + 3, t);
  return find_number(text, "\"t\"", t);
}

// The string value after "key": (no escapes expected).
std::string_view find_string(std::string_view text, std::string_view key) {
  size_t p = find_key(text, key);
  if (p == std::string_view::npos) return {};
  p += key.size();
  while (p < text.size() && (text[p] == ' ' || text[p] == ':' || text[p] == '\t')) ++p;
  if (p >= text.size() || text[p] != '"') return {};
  size_t q = text.find('"', p + 1);
  if (q == std::string_view::npos) return {};
  return text.substr(p + 1, q - p - 1);
}

bool send_all(int fd, const std::string& bytes) {
  size_t off = 0;
  for (int spins = 0; off < bytes.size() && spins < 1000; ++spins) {
    ssize_t w = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (w > 0) off += static_cast<size_t>(w);
    else if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
    else std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return off == bytes.size();
}

// A client -> server WebSocket frame (RFC 6455: client frames are masked).
std::string ws_client_frame(int opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((uint64_t(payload.size()) >> (8 * i)) & 0xff));
  }
  const unsigned char mask[4] = {0x3a, 0x91, 0x5c, 0xe7};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

struct Target {
  bool websocket = true;  // false: NATS
  int port = 0;
  std::string subject;  // NATS
};

// One receiver thread: connects, handshakes and then reads its share of the sockets.
class Receiver {
 public:
  Receiver(FanoutShared& sh, const Target& target, std::vector<Sock*> socks, RecvStats& stats)
      : sh_(sh), target_(target), socks_(std::move(socks)), stats_(stats) {}

  void run() {
    try {
      loop();
    } catch (const std::exception& e) {
      sh_.fail(std::string("receiver: ") + e.what());
    }
    if (ep_ >= 0) close(ep_);
  }

 private:
  void loop() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(target_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (Sock* s : socks_) {
      s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s->fd < 0) throw std::runtime_error(std::string("socket(): ") + strerror(errno) + " (file descriptors?)");
      int one = 1;
      setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      int rc = connect(s->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      if (rc != 0 && errno != EINPROGRESS)
        throw std::runtime_error("connect to port " + std::to_string(target_.port) + ": " + strerror(errno));
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.ptr = s;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, s->fd, &ev) != 0)
        throw std::runtime_error(std::string("epoll_ctl: ") + strerror(errno));
    }
    std::vector<epoll_event> events(512);
    scratch_.resize(1 << 18);
    while (!sh_.stop.load(std::memory_order_relaxed) && !sh_.failed.load(std::memory_order_relaxed)) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("epoll_wait: ") + strerror(errno));
      }
      for (int i = 0; i < n; ++i) on_event(*static_cast<Sock*>(events[i].data.ptr), events[i].events);
    }
  }

  void on_event(Sock& s, uint32_t ev) {
    if (s.state == kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        throw std::runtime_error("socket " + std::to_string(s.index) + ": connect to port " +
                                 std::to_string(target_.port) + ": " + strerror(err));
      if (!(ev & EPOLLOUT)) return;
      std::string hello;
      if (target_.websocket) {
        hello = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(target_.port) +
                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n";
      } else {
        hello = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB " + target_.subject + " " +
                std::to_string(s.index + 1) + "\r\nPING\r\n";
      }
      if (!send_all(s.fd, hello)) throw std::runtime_error("socket " + std::to_string(s.index) + ": handshake write failed");
      s.state = kHandshake;
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.ptr = &s;
      epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &e);
      return;
    }
    ssize_t n = ::read(s.fd, scratch_.data(), scratch_.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      throw std::runtime_error("socket " + std::to_string(s.index) + ": read: " + strerror(errno));
    }
    if (n == 0) throw std::runtime_error("socket " + std::to_string(s.index) + ": the server closed the connection");
    now_ = now_ns();
    measuring_ = sh_.phase.load(std::memory_order_relaxed) == kMeasure;
    if (measuring_) ++stats_.reads;
    std::string_view data;
    bool from_scratch = s.in.empty() && s.state != kHandshake;
    if (from_scratch) {
      data = std::string_view(scratch_.data(), static_cast<size_t>(n));
    } else {
      s.in.append(scratch_.data(), static_cast<size_t>(n));
      data = s.in;
    }
    size_t used = target_.websocket ? ws_parse(s, data) : nats_parse(s, data);
    if (from_scratch) s.in.assign(data.substr(used));
    else s.in.erase(0, used);
    if (s.in.size() > (16u << 20)) throw std::runtime_error("socket " + std::to_string(s.index) + ": > 16 MiB unparsed");
  }

  // ---- WebSocket (our stream port)
  size_t ws_parse(Sock& s, std::string_view d) {
    size_t off = 0;
    if (s.state == kHandshake) {
      size_t end = d.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (d.size() > 16384) throw std::runtime_error("upgrade response without end of header");
        return 0;
      }
      if (d.substr(0, 12) != "HTTP/1.1 101")
        throw std::runtime_error("socket " + std::to_string(s.index) + ": upgrade refused: " +
                                 std::string(d.substr(0, d.find("\r\n"))));
      off = end + 4;
      std::string join = R"({"type":"join","data":{"subscriptionId":"s)" + std::to_string(s.index) +
                         R"(","streamName":"bench","groupId":"g"}})";
      if (!send_all(s.fd, ws_client_frame(0x1, join)))
        throw std::runtime_error("socket " + std::to_string(s.index) + ": join write failed");
      s.state = kJoining;
    }
    while (d.size() - off >= 2) {
      const auto* p = reinterpret_cast<const unsigned char*>(d.data() + off);
      const size_t avail = d.size() - off;
      const bool fin = p[0] & 0x80;
      const int op = p[0] & 0x0f;
      const bool masked = p[1] & 0x80;
      uint64_t len = p[1] & 0x7f;
      size_t head = 2;
      if (len == 126) {
        if (avail < 4) break;
        len = (uint64_t(p[2]) << 8) | p[3];
        head = 4;
      } else if (len == 127) {
        if (avail < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
        head = 10;
      }
      if (len > (64u << 20)) throw std::runtime_error("WebSocket frame of " + std::to_string(len) + " bytes");
      const size_t mask_at = head;
      if (masked) head += 4;
      if (avail < head + len) break;
      std::string_view payload = d.substr(off + head, len);
      std::string unmasked;
      if (masked) {  // servers must not mask, but read it right if one does
        unmasked.assign(payload);
        for (size_t i = 0; i < unmasked.size(); ++i) unmasked[i] ^= p[mask_at + i % 4];
        payload = unmasked;
      }
      off += head + len;
      switch (op) {
        case 0x8: {
          int code = len >= 2 ? (static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1])) : 0;
          throw std::runtime_error("socket " + std::to_string(s.index) + ": server sent close " + std::to_string(code) +
                                   " " + std::string(payload.substr(std::min<size_t>(2, len))));
        }
        case 0x9:
          if (!send_all(s.fd, ws_client_frame(0xA, payload))) throw std::runtime_error("pong write failed");
          break;
        case 0xA:
          break;
        case 0x0:
        case 0x1:
        case 0x2:
          if (fin && s.msg.empty()) {
            ws_message(s, payload);
          } else {
            s.msg.append(payload);
            if (fin) {
              ws_message(s, s.msg);
              s.msg.clear();
            }
          }
          break;
        default:
          throw std::runtime_error("WebSocket opcode " + std::to_string(op));
      }
    }
    return off;
  }

  void ws_message(Sock& s, std::string_view m) {
    // {"type":"stream","timestamp":..,"streamName":"bench","groupId":"g","id":..,"event":{"type":T,"data":..}}
    if (s.state == kJoining) {
      size_t ev = find_key(m, "\"event\"");
      std::string_view type = ev == std::string_view::npos ? std::string_view{} : find_string(m.substr(ev), "\"type\"");
      if (type != "sync")
        throw std::runtime_error("socket " + std::to_string(s.index) + ": expected the sync message after join, got: " +
                                 std::string(m.substr(0, 300)));
      s.state = kReady;
      sh_.ready.fetch_add(1);
      return;
    }
    // After the sync only changes of the group arrive, and only the writer's (create/update) carry
    // "seq": the same scan as for a NATS payload finds it past the envelope.
    event(s, m);
  }

  // ---- NATS text protocol
  size_t nats_parse(Sock& s, std::string_view d) {
    size_t off = 0;
    while (off < d.size()) {
      size_t eol = d.find("\r\n", off);
      if (eol == std::string_view::npos) {
        if (d.size() - off > 65536) throw std::runtime_error("NATS line longer than 64 KiB");
        break;
      }
      std::string_view line = d.substr(off, eol - off);
      if (line.size() >= 4 && (line.substr(0, 4) == "MSG " || line.substr(0, 4) == "msg ")) {
        // MSG <subject> <sid> [reply-to] <#bytes>
        size_t sp = line.rfind(' ');
        size_t bytes = 0;
        auto r = std::from_chars(line.data() + sp + 1, line.data() + line.size(), bytes);
        if (r.ec != std::errc()) throw std::runtime_error("bad NATS MSG line: " + std::string(line));
        if (d.size() - (eol + 2) < bytes + 2) break;  // payload not complete yet
        std::string_view payload = d.substr(eol + 2, bytes);
        off = eol + 2 + bytes + 2;
        if (s.state != kReady) {
          ++stats_.other;
          continue;
        }
        event(s, payload);
        continue;
      }
      off = eol + 2;
      if (line == "PING") {
        if (!send_all(s.fd, "PONG\r\n")) throw std::runtime_error("PONG write failed");
      } else if (line == "PONG") {
        if (s.state == kHandshake) {  // the server answered the PING sent after SUB: subscribed
          s.state = kReady;
          sh_.ready.fetch_add(1);
        }
      } else if (line.substr(0, 4) == "-ERR") {
        throw std::runtime_error("socket " + std::to_string(s.index) + ": nats-server: " + std::string(line));
      }  // INFO, +OK: nothing to do
    }
    return off;
  }

  // ---- one change event (the same for both sides): {"t":..,"seq":..,"pad":..} somewhere in text
  void event(Sock& s, std::string_view text) {
    double seq_d = 0, t_d = 0;
    if (!scan_event(text, seq_d, t_d)) {
      ++stats_.other;
      return;
    }
    const auto seq = static_cast<int64_t>(seq_d);
    int64_t last = s.last_seq.load(std::memory_order_relaxed);
    if (seq <= last) {
      ++stats_.other;  // an older event again (not expected)
      return;
    }
    if (seq - last > kRing / 2)
      throw std::runtime_error("socket " + std::to_string(s.index) + ": seq " + std::to_string(seq) +
                               " far beyond the window (last " + std::to_string(last) + ")");
    for (int64_t q = last + 1; q <= seq; ++q) {
      if (q < seq) ++stats_.lost;
      auto& c = sh_.count[q & (kRing - 1)];
      if (c.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(sh_.n)) {
        c.store(0, std::memory_order_relaxed);
        sh_.advance(q);
      }
    }
    s.last_seq.store(seq, std::memory_order_relaxed);
    if (measuring_) {
      ++stats_.delivered;
      stats_.lat.add(std::chrono::nanoseconds(now_ - static_cast<int64_t>(t_d)));
    }
  }

  FanoutShared& sh_;
  Target target_;
  std::vector<Sock*> socks_;
  RecvStats& stats_;
  int ep_ = -1;
  std::vector<char> scratch_;
  int64_t now_ = 0;
  bool measuring_ = false;
};

}  // namespace
}  // namespace fanout
