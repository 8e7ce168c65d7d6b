// net::WsClient against a raw, scripted WebSocket server (blocking sockets driven by the test
// thread): what the engine never does but a server may — bytes glued to the 101, fragmented
// messages, pings, close frames, protocol errors — and what the client's frames look like on the
// wire (masked, a fresh key per frame, in order), also when many threads send at once and when
// the server stops reading (send() writes directly from the caller's thread while the connection
// is idle and falls back to the I/O thread's queued writes when the socket buffer is full).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "wire/flush_batch.h"
#include "wire/ws_codec.h"
#include "ws_client_harness.h"

namespace {

using namespace std::chrono_literals;
using iii::net::WsClientOptions;
using iii::test::ClientHarness;
using iii::test::wait_until;
namespace ws = iii::net::ws;
using Kind = ws::FrameReader::Kind;

struct Received {
  Kind kind = Kind::kNone;
  std::string payload;
  uint16_t close_code = 0;
  std::string mask_key;  // the 4 key bytes of the frame, for the "fresh key per frame" check
};

class RawServer {
 public:
  RawServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("raw server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
  }
  ~RawServer() {
    if (conn_ >= 0) ::close(conn_);
    ::close(listener_);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/raw"; }

  // Accepts the client and answers its upgrade; `glued` goes out in the same write as the 101.
  bool accept(const std::string& glued = "", bool wrong_accept_key = false) {
    if (!readable(listener_, 5s)) return false;
    conn_ = ::accept(listener_, nullptr, nullptr);
    if (conn_ < 0) return false;
    while (request_.find("\r\n\r\n") == std::string::npos) {
      char chunk[1024];
      if (!readable(conn_, 5s)) return false;
      ssize_t n = ::recv(conn_, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      request_.append(chunk, static_cast<size_t>(n));
    }
    auto key_at = request_.find("Sec-WebSocket-Key: ");
    if (key_at == std::string::npos) return false;
    key_at += 19;
    std::string key = request_.substr(key_at, request_.find("\r\n", key_at) - key_at);
    std::string accept = wrong_accept_key ? ws::accept_key("not the key") : ws::accept_key(key);
    send_raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " + accept + "\r\n\r\n" + glued);
    return true;
  }
  const std::string& request() const { return request_; }

  void send_raw(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(conn_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("raw server: send failed");
      sent += static_cast<size_t>(n);
    }
  }
  static std::string frame(ws::Opcode opcode, std::string_view payload, bool fin = true) {
    std::string out;
    ws::append_frame(out, opcode, payload);
    if (!fin) out[0] = static_cast<char>(out[0] & 0x7F);
    return out;
  }

  // The next frame from the client, decoded (frames must be masked); kNone on timeout or EOF.
  Received next(std::chrono::milliseconds timeout = 5s) {
    for (;;) {
      if (reader_.buffered() >= 6) {  // remember the key before the reader unmasks in place
        size_t room;
        const char* p = reader_.prepare(0, room) - reader_.buffered();
        size_t length = static_cast<uint8_t>(p[1]) & 0x7F;
        size_t key_at = length == 126 ? 4 : length == 127 ? 10 : 2;
        if (reader_.buffered() >= key_at + 4) last_key_.assign(p + key_at, 4);
      }
      auto event = reader_.next();
      if (event.kind != Kind::kNone) {
        Received r{event.kind, std::string(event.kind == Kind::kError ? event.error : event.payload), event.close_code,
                   last_key_};
        return r;
      }
      if (!readable(conn_, timeout)) return {};
      size_t room;
      char* into = reader_.prepare(64 * 1024, room);
      ssize_t n = ::recv(conn_, into, room, 0);
      if (n <= 0) return {};
      reader_.commit(static_cast<size_t>(n));
    }
  }
  // Drops the connection with a TCP reset (SO_LINGER 0), as a crashed peer would.
  void reset() {
    linger hard{1, 0};
    ::setsockopt(conn_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    ::close(conn_);
    conn_ = -1;
  }
  // True when the client closed the TCP connection within `timeout`.
  bool sees_eof(std::chrono::milliseconds timeout) {
    char byte;
    return readable(conn_, timeout) && ::recv(conn_, &byte, 1, 0) == 0;
  }

 private:
  static bool readable(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }
  int listener_ = -1, conn_ = -1;
  uint16_t port_ = 0;
  std::string request_;
  ws::FrameReader reader_{/*expect_masked=*/true, 64u << 20};
  std::string last_key_;
};

WsClientOptions quick_options() {
  WsClientOptions options;
  options.close_timeout = 500ms;
  return options;
}

// Makes a client, connects it to `server` and waits until the upgrade is done both ways; null
// (with the failure recorded) when either side did not get there.
std::shared_ptr<iii::net::WsClient> open_client(RawServer& server, ClientHarness& harness,
                                                WsClientOptions options = quick_options()) {
  auto client = harness.make(options);
  client->connect(server.url());
  if (!server.accept()) {
    ADD_FAILURE() << "the raw server saw no upgrade request";
    return nullptr;
  }
  if (!harness.wait_open(5s)) {
    ADD_FAILURE() << "the client did not open";
    return nullptr;
  }
  return client;
}

TEST(WsClientRaw, SendsAValidUpgradeAndMaskedFramesInOrder) {
  RawServer server;
  ClientHarness harness;
  auto client = harness.make(quick_options());
  client->connect(server.url());
  ASSERT_TRUE(server.accept());
  EXPECT_EQ(server.request().rfind("GET /raw HTTP/1.1\r\n", 0), 0u) << server.request();
  EXPECT_NE(server.request().find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  ASSERT_TRUE(harness.wait_open(5s));

  // Back to back, sizes across the 7-bit / 16-bit / 64-bit length encodings.
  constexpr int kFrames = 3000;
  auto payload = [](int i) {
    size_t size = i % 500 == 0 ? 70000 + i : i % 3 == 0 ? 200 + i % 100 : 10 + i % 50;
    return std::to_string(i) + ":" + std::string(size, static_cast<char>('a' + i % 26));
  };
  for (int i = 0; i < kFrames; ++i) ASSERT_TRUE(client->send(payload(i)));
  std::set<std::string> keys;
  for (int i = 0; i < kFrames; ++i) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage) << i << " " << frame.payload;
    ASSERT_EQ(frame.payload, payload(i)) << i;
    keys.insert(frame.mask_key);
  }
  EXPECT_GT(keys.size(), size_t{kFrames * 9 / 10});  // a fresh random key per frame

  client->close();  // our close frame, the server's answer, then on_close("")
  auto close = server.next();
  ASSERT_EQ(close.kind, Kind::kClose);
  EXPECT_EQ(close.close_code, ws::kCloseNormal);
  server.send_raw(RawServer::frame(ws::Opcode::kClose, ws::close_payload(ws::kCloseNormal, "")));
  auto reason = harness.wait_closed(2s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "");
}

TEST(WsClientRaw, FramesGluedToThe101AndFragmentsAreDelivered) {
  RawServer server;
  ClientHarness harness;
  auto client = harness.make(quick_options());
  client->connect(server.url());
  // The first message arrives in the same TCP segment as the 101; the second is split in three
  // fragments with a ping between them, the third is split across several TCP writes.
  std::string glued = RawServer::frame(ws::Opcode::kText, "first") +
                      RawServer::frame(ws::Opcode::kText, "sec", false) +
                      RawServer::frame(ws::Opcode::kContinuation, "on", false) +
                      RawServer::frame(ws::Opcode::kPing, "p1") +
                      RawServer::frame(ws::Opcode::kContinuation, "d", true);
  ASSERT_TRUE(server.accept(glued));
  std::string third = RawServer::frame(ws::Opcode::kText, std::string(100000, 'x'));
  for (size_t at = 0; at < third.size(); at += 7000) {
    server.send_raw(third.substr(at, 7000));
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(wait_until([&] { return harness.messages().size() >= 3; }));
  auto messages = harness.messages();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], "first");
  EXPECT_EQ(messages[1], "second");
  EXPECT_EQ(messages[2], std::string(100000, 'x'));
  auto pong = server.next();
  EXPECT_EQ(pong.kind, Kind::kPong);
  EXPECT_EQ(pong.payload, "p1");
}

TEST(WsClientRaw, AnswersPingsBetweenItsOwnFrames) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send("before"));
  server.send_raw(RawServer::frame(ws::Opcode::kPing, "are you there"));
  std::vector<Received> got{server.next(), server.next()};
  std::sort(got.begin(), got.end(), [](auto& a, auto& b) { return a.kind < b.kind; });  // any order
  EXPECT_EQ(got[0].kind, Kind::kMessage);
  EXPECT_EQ(got[0].payload, "before");
  EXPECT_EQ(got[1].kind, Kind::kPong);
  EXPECT_EQ(got[1].payload, "are you there");
  EXPECT_FALSE(harness.wait_closed(0ms));
}

TEST(WsClientRaw, ServerCloseIsEchoedAndEndsTheClient) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  server.send_raw(RawServer::frame(ws::Opcode::kClose, ws::close_payload(4001, "going away now")));
  auto echo = server.next();
  ASSERT_EQ(echo.kind, Kind::kClose);
  EXPECT_EQ(echo.close_code, 4001);
  auto reason = harness.wait_closed(2s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("closed by peer (code 4001, going away now)"), std::string::npos) << *reason;
  EXPECT_TRUE(server.sees_eof(2s));
  EXPECT_FALSE(client->send("late"));
}

TEST(WsClientRaw, ProtocolErrorSendsACloseWithItsCode) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  std::string bad = RawServer::frame(ws::Opcode::kText, "rsv");
  bad[0] = static_cast<char>(bad[0] | 0x40);  // RSV1 without a negotiated extension
  server.send_raw(bad);
  auto close = server.next();
  ASSERT_EQ(close.kind, Kind::kClose);
  EXPECT_EQ(close.close_code, ws::kCloseProtocolError);
  auto reason = harness.wait_closed(2s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("protocol error"), std::string::npos) << *reason;
}

TEST(WsClientRaw, OversizedMessageClosesWith1009) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.max_message_bytes = 1000;
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);
  server.send_raw(RawServer::frame(ws::Opcode::kText, std::string(999, 'a')));
  server.send_raw(RawServer::frame(ws::Opcode::kText, std::string(600, 'b'), false) +
                  RawServer::frame(ws::Opcode::kContinuation, std::string(600, 'c')));
  auto close = server.next();
  ASSERT_EQ(close.kind, Kind::kClose);
  EXPECT_EQ(close.close_code, ws::kCloseTooBig);
  ASSERT_TRUE(harness.wait_closed(2s));
  EXPECT_EQ(harness.messages().size(), 1u);
}

TEST(WsClientRaw, WrongAcceptKeyFailsTheHandshake) {
  RawServer server;
  ClientHarness harness;
  auto client = harness.make(quick_options());
  client->connect(server.url());
  ASSERT_TRUE(server.accept("", /*wrong_accept_key=*/true));
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("Sec-WebSocket-Accept"), std::string::npos) << *reason;
  EXPECT_FALSE(harness.wait_open(0ms));
}

TEST(WsClientRaw, CloseTimeoutWhenTheServerNeverAnswers) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send("last words"));
  client->close();
  EXPECT_FALSE(client->send("too late"));
  EXPECT_EQ(server.next().payload, "last words");  // queued before close(): still delivered
  EXPECT_EQ(server.next().kind, Kind::kClose);
  auto started = std::chrono::steady_clock::now();
  auto reason = harness.wait_closed(3s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
}

// Frames that say who sent them: "thread:sequence:" then filler derived from both, so that a
// torn, mixed or reordered frame cannot pass. Every 500th is big (64-bit length, partial writes).
std::string tagged_payload(int thread, int sequence) {
  size_t size = sequence % 500 == 499 ? 70000 : 10 + (sequence * 7 + thread) % 300;
  return std::to_string(thread) + ":" + std::to_string(sequence) + ":" +
         std::string(size, static_cast<char>('a' + (thread + sequence) % 26));
}

// Reads `total` frames and checks that each thread's frames arrived intact and in its order.
void expect_tagged_frames(RawServer& server, int threads, int total, std::vector<int>& next_sequence) {
  next_sequence.resize(static_cast<size_t>(threads), 0);
  for (int i = 0; i < total; ++i) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage) << "frame " << i << ": " << frame.payload;
    auto colon = frame.payload.find(':');
    ASSERT_NE(colon, std::string::npos) << i;
    int thread = std::stoi(frame.payload.substr(0, colon));
    ASSERT_GE(thread, 0);
    ASSERT_LT(thread, threads);
    int& expected = next_sequence[static_cast<size_t>(thread)];
    ASSERT_EQ(frame.payload, tagged_payload(thread, expected)) << "frame " << i << " from thread " << thread;
    ++expected;
  }
}

// `threads` threads each send `per_thread` tagged frames (with the flush mode `flush_of(thread,
// sequence)` gives), while the server reads them all: none refused, each thread's intact and in order.
void expect_concurrent_senders_in_order(RawServer& server, iii::net::WsClient& client, int threads, int per_thread,
                                        iii::net::WsClient::Flush (*flush_of)(int thread, int sequence)) {
  std::atomic<int> refused{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        if (!client.send(tagged_payload(t, i), flush_of(t, i))) ++refused;
      }
    });
  }
  std::vector<int> next_sequence;
  expect_tagged_frames(server, threads, threads * per_thread, next_sequence);
  for (auto& sender : senders) sender.join();
  EXPECT_EQ(refused.load(), 0);
  for (int t = 0; t < threads; ++t) EXPECT_EQ(next_sequence[static_cast<size_t>(t)], per_thread) << t;
}

TEST(WsClientRaw, ConcurrentSendersKeepEachThreadsFramesWholeAndInOrder) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.max_queued_frames = 1u << 20;  // no refusals: the test is about order, not the bound
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);
  expect_concurrent_senders_in_order(server, *client, 8, 2000, [](int, int) { return iii::net::WsClient::Flush::kNow; });
  EXPECT_TRUE(wait_until([&] { return client->queued() == 0; }));
  EXPECT_FALSE(harness.wait_closed(0ms));
}

// A thread handling a read (a FlushBatch open on it) holds what it sends to an idle client until
// the batch ends, then it leaves in order with what other threads sent meanwhile.
TEST(WsClientRaw, FramesSentDuringAFlushBatchLeaveInOrderWhenItEnds) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.batch_sends = true;
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);
  {
    iii::FlushBatch batch;
    ASSERT_TRUE(client->send("one"));
    ASSERT_TRUE(client->send("two"));
    EXPECT_EQ(client->queued(), 2u);  // held for the batch, not written
    std::thread other([&] { EXPECT_TRUE(client->send("three")); });  // no batch on that thread
    other.join();
    EXPECT_EQ(client->queued(), 3u);  // it leaves with the batch rather than overtaking it
  }
  for (const char* expected : {"one", "two", "three"}) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage);
    EXPECT_EQ(frame.payload, expected);
  }
  EXPECT_TRUE(wait_until([&] { return client->queued() == 0; }));
  ASSERT_TRUE(client->send("four"));  // no batch: written at once, as before
  auto frame = server.next();
  EXPECT_EQ(frame.payload, "four");
}

// Flush::kSoon leaves the write to the client's I/O thread: on an idle connection nothing else
// happens, and the frame must still go out, in order with frames written at once.
TEST(WsClientRaw, FramesSentSoonLeaveWithoutAnyOtherTrafficAndInOrder) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  using Flush = iii::net::WsClient::Flush;
  ASSERT_TRUE(client->send("soon-1", Flush::kSoon));
  EXPECT_EQ(server.next().payload, "soon-1");
  ASSERT_TRUE(client->send("soon-2", Flush::kSoon));
  ASSERT_TRUE(client->send("now-3", Flush::kNow));
  ASSERT_TRUE(client->send("soon-4", Flush::kSoon));
  for (const char* expected : {"soon-2", "now-3", "soon-4"}) EXPECT_EQ(server.next().payload, expected);
  EXPECT_TRUE(wait_until([&] { return client->queued() == 0; }));
}

TEST(WsClientRaw, ManyThreadsSendingSoonOrNowKeepEachThreadsFramesInOrder) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.max_queued_frames = 1u << 20;
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);
  expect_concurrent_senders_in_order(server, *client, 6, 1500, [](int thread, int sequence) {
    return (sequence + thread) % 3 == 0 ? iii::net::WsClient::Flush::kNow : iii::net::WsClient::Flush::kSoon;
  });
}

// While the client handles a read, what any thread sends waits for the end of that read and then
// leaves in order: here the answers sent from inside on_message, and one from another thread.
TEST(WsClientRaw, FramesSentWhileAReadIsHandledLeaveWhenItIsHandled) {
  RawServer server;
  ClientHarness harness;
  std::shared_ptr<iii::net::WsClient> client;
  std::atomic<int> held_during_read{-1};
  harness.on_message = [&](const std::string& message) {
    client->send("answer-" + message);
    if (message == "b") {
      std::thread other([&] { client->send("from-another-thread"); });
      other.join();
      held_during_read = static_cast<int>(client->queued());  // nothing written before the read ends
    }
  };
  client = open_client(server, harness);
  ASSERT_TRUE(client);
  server.send_raw(RawServer::frame(ws::Opcode::kText, "a") + RawServer::frame(ws::Opcode::kText, "b"));
  for (const char* expected : {"answer-a", "answer-b", "from-another-thread"}) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage);
    EXPECT_EQ(frame.payload, expected);
  }
  // While "b" was handled, its answer and the other thread's frame were held (with answer-a too
  // when both inbound frames came in one read, as one segment normally does).
  EXPECT_GE(held_during_read.load(), 2);
}

// A message handler that throws cannot leave the read half handled: the client ends the connection
// with 1011 and says why, and what it queued meanwhile still goes out first.
TEST(WsClientRaw, AMessageHandlerThatThrowsEndsTheConnectionCleanly) {
  RawServer server;
  ClientHarness harness;
  std::shared_ptr<iii::net::WsClient> client;
  harness.on_message = [&](const std::string& message) {
    client->send("before-" + message);
    throw std::runtime_error("handler bug");
  };
  client = open_client(server, harness);
  ASSERT_TRUE(client);
  server.send_raw(RawServer::frame(ws::Opcode::kText, "boom"));
  auto first = server.next();
  ASSERT_EQ(first.kind, Kind::kMessage);
  EXPECT_EQ(first.payload, "before-boom");
  auto close = server.next();
  ASSERT_EQ(close.kind, Kind::kClose);
  EXPECT_EQ(close.close_code, ws::kCloseInternalError);
  server.send_raw(RawServer::frame(ws::Opcode::kClose, std::string("\x03\xf3", 2)));  // answer the close
  auto reason = harness.wait_closed(5s);
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("the message handler failed: handler bug"), std::string::npos) << *reason;
}

// A client that does not batch (the SDK's: its callers may wait for the answer while a read is
// being handled) writes at once even inside a batch.
TEST(WsClientRaw, AClientWithoutBatchSendsWritesAtOnceInsideABatch) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness, quick_options());
  ASSERT_TRUE(client);
  iii::FlushBatch batch;
  ASSERT_TRUE(client->send("now"));
  auto frame = server.next();  // arrives while the batch is still open
  EXPECT_EQ(frame.payload, "now");
}

TEST(WsClientRaw, FramesQueueWhileTheServerStopsReadingAndAllArriveOnceItResumes) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.max_queued_frames = 1u << 20;
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);

  // The server reads nothing while 4 threads send ~40 MB, far beyond what the kernel buffers on
  // loopback: direct writes go partial, then hit EAGAIN, and the rest waits in the queue.
  constexpr int kThreads = 4, kPerThread = 250;
  auto big = [](int thread, int sequence) {
    return tagged_payload(thread, sequence) + std::string(40000, static_cast<char>('A' + thread));
  };
  std::vector<std::thread> senders;
  std::atomic<int> refused{0};
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!client->send(big(t, i))) ++refused;
      }
    });
  }
  for (auto& sender : senders) sender.join();
  EXPECT_EQ(refused.load(), 0);
  std::this_thread::sleep_for(100ms);
  auto stalled = client->queued();
  EXPECT_GT(stalled, 0u) << "the kernel took everything: the stall was not reached";
  EXPECT_LE(stalled, size_t{kThreads * kPerThread});

  std::vector<int> next_sequence(kThreads, 0);
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage) << i;
    int thread = std::stoi(frame.payload.substr(0, frame.payload.find(':')));
    ASSERT_TRUE(thread >= 0 && thread < kThreads) << i;
    int& expected = next_sequence[static_cast<size_t>(thread)];
    ASSERT_EQ(frame.payload, big(thread, expected)) << "frame " << i << " from thread " << thread;
    ++expected;
  }
  EXPECT_TRUE(wait_until([&] { return client->queued() == 0; }));

  // Idle again: frames go out directly once more, still in order.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client->send(tagged_payload(0, i)));
  std::vector<int> after;
  expect_tagged_frames(server, 1, 100, after);
  EXPECT_FALSE(harness.wait_closed(0ms));
}

// The bound counts frames not yet written: direct writes never count, the stalled rest does.
TEST(WsClientRaw, QueueBoundHoldsWhileTheServerStopsReading) {
  RawServer server;
  ClientHarness harness;
  auto options = quick_options();
  options.max_queued_frames = 8;
  auto client = open_client(server, harness, options);
  ASSERT_TRUE(client);
  std::string filler(50000, 'q');
  int accepted = 0;
  while (accepted < 5000 && client->send(std::to_string(accepted) + ":" + filler)) ++accepted;
  ASSERT_LT(accepted, 5000) << "never refused";
  EXPECT_EQ(client->queued(), 8u);
  for (int i = 0; i < accepted; ++i) {
    auto frame = server.next();
    ASSERT_EQ(frame.kind, Kind::kMessage) << i;
    ASSERT_EQ(frame.payload, std::to_string(i) + ":" + filler) << i;
  }
  EXPECT_TRUE(wait_until([&] { return client->queued() == 0; }));
  EXPECT_TRUE(client->send("again"));
  EXPECT_EQ(server.next().payload, "again");
}

TEST(WsClientRaw, SendingIntoAResetConnectionEndsTheClientQuietly) {
  RawServer server;
  ClientHarness harness;
  auto client = open_client(server, harness);
  ASSERT_TRUE(client);
  server.reset();
  // EPIPE / ECONNRESET on the direct write must neither throw nor raise SIGPIPE.
  for (int i = 0; i < 1000 && !harness.wait_closed(0ms); ++i) {
    client->send(std::string(1000, 'x'));
    std::this_thread::sleep_for(1ms);
  }
  auto reason = harness.wait_closed(2s);
  ASSERT_TRUE(reason);
  EXPECT_FALSE(reason->empty());
  EXPECT_FALSE(client->send("late"));
}

}  // namespace
