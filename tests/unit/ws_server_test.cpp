// WsServer (net/ws_server.h) and the iii-stream client socket it serves (StreamSocketService,
// workers/stream/stream_socket.h), over loopback sockets: one io_context thread, the C++
// WebSocket client of wire/ws_client.h, every wait bounded (a few seconds at most; each test
// takes milliseconds when it passes).
#include "net/ws_server.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "core/json_text.h"
#include "engine/engine.h"
#include "io_thread.h"
#include "store/kv_stream_store.h"
#include "wire/ws_client.h"
#include "workers/stream/stream_service.h"
#include "workers/stream/stream_socket.h"
#include "workers/stream/stream_worker.h"

namespace iii {
namespace {

namespace json = boost::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr auto kWait = 5s;  // the most any one wait may take (a passing test waits milliseconds)

json::value parse(std::string_view text) {
  auto v = json_text::parse(text.empty() ? "null" : text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// What a plain TCP client got: the bytes the server sent, and whether the server closed the
// connection (false: the deadline came first).
struct RawAnswer {
  std::string bytes;
  bool closed = false;
};

// Sends `request` on a plain TCP connection and reads until the server closes, or `deadline`
// passes; with `headers_only`, until the end of the response's headers.
RawAnswer raw_exchange(uint16_t port, const std::string& request, bool headers_only = false,
                       std::chrono::milliseconds deadline = kWait) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return {"connect failed: " + ec.message(), false};
  if (!request.empty()) asio::write(socket, asio::buffer(request), ec);
  RawAnswer answer;
  std::array<char, 4096> buffer;
  std::function<void()> read = [&] {
    socket.async_read_some(asio::buffer(buffer), [&](boost::system::error_code e, size_t n) {
      answer.bytes.append(buffer.data(), n);
      if (headers_only && answer.bytes.find("\r\n\r\n") != std::string::npos) return;
      if (e) {
        answer.closed = true;
        return;
      }
      read();
    });
  };
  read();
  io.run_for(deadline);
  return answer;
}

std::string upgrade_request(const std::string& target) {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// The status line of the server's answer to an upgrade of `target`.
std::string status_line(uint16_t port, const std::string& target = "/") {
  const std::string response = raw_exchange(port, upgrade_request(target), true).bytes;
  return response.substr(0, response.find("\r\n"));
}

// A WebSocket client whose messages and end are waited for with a deadline.
class TestClient {
 public:
  TestClient(asio::io_context& io, uint16_t port, const std::string& target = "/") : state_(std::make_shared<State>()) {
    net::WsClientCallbacks callbacks;
    callbacks.on_open = [s = state_] {
      std::lock_guard lock(s->mu);
      s->open = true;
      s->cv.notify_all();
    };
    callbacks.on_message = [s = state_](std::string_view m) {
      std::lock_guard lock(s->mu);
      s->messages.emplace_back(m);
      s->cv.notify_all();
    };
    callbacks.on_close = [s = state_](std::string reason) {
      std::lock_guard lock(s->mu);
      s->closed = std::move(reason);
      s->cv.notify_all();
    };
    net::WsClientOptions options;
    options.connect_timeout = kWait;
    client_ = net::WsClient::create(io, options, std::move(callbacks));
    client_->connect("ws://127.0.0.1:" + std::to_string(port) + target);
  }
  ~TestClient() { client_->close(); }

  // True once open; false when it ended (or the wait ran out) first.
  bool wait_open() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait_for(lock, kWait, [&] { return state_->open || state_->closed; });
    return state_->open;
  }
  std::optional<std::string> next() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait_for(lock, kWait, [&] { return !state_->messages.empty() || state_->closed; });
    if (state_->messages.empty()) return std::nullopt;
    std::string m = std::move(state_->messages.front());
    state_->messages.pop_front();
    return m;
  }
  json::value next_json() {
    std::optional<std::string> m = next();
    EXPECT_TRUE(m) << "no message within the deadline";
    return m ? parse(*m) : json::value();
  }
  // The close reason, once the connection ended.
  std::optional<std::string> wait_closed() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait_for(lock, kWait, [&] { return state_->closed.has_value(); });
    return state_->closed;
  }
  bool send(std::string text) { return client_->send(std::move(text)); }
  void close() { client_->close(); }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    std::deque<std::string> messages;
    std::optional<std::string> closed;
  };
  std::shared_ptr<State> state_;
  std::shared_ptr<net::WsClient> client_;
};

// --- WsServer with a test service ---

class TestService : public WsService {
 public:
  std::function<void(WsUpgradeRequest, std::function<void(WsDecision)>)> on_upgrade;
  std::atomic<int> upgrades{0};
  std::chrono::milliseconds timeout{2000};
  int status_on_timeout = 503;
  void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) override {
    ++upgrades;
    on_upgrade(std::move(request), std::move(decide));
  }
  std::chrono::milliseconds decision_timeout() const override { return timeout; }
  int timeout_status() const override { return status_on_timeout; }
};

// Echoes every message as "echo:<message>"; greets with a pre-encoded frame.
class EchoHandler : public WsConnectionHandler {
 public:
  void on_open(const std::shared_ptr<WsPeer>& peer) override {
    std::lock_guard lock(mu);
    peer_ = peer;
    peer->send_encoded(encode_text_frame("hello, pre-encoded"));
  }
  void on_message(std::string_view payload, bool binary) override {
    std::lock_guard lock(mu);
    if (peer_) peer_->send_text((binary ? "binary:" : "echo:") + std::string(payload));
  }
  void on_closed() override {
    std::lock_guard lock(mu);
    peer_.reset();
    ++closed;
  }
  std::mutex mu;
  std::shared_ptr<WsPeer> peer_;
  std::atomic<int> closed{0};
};

class WsServerTest : public ::testing::Test {
 protected:
  ~WsServerTest() override {
    if (server) server->stop();
    io_thread.stop();
  }
  void listen(std::chrono::milliseconds handshake_timeout = 2s) {
    server = std::make_unique<WsServer>(io_thread.io, service, handshake_timeout);
    server->listen("127.0.0.1", 0);
    ASSERT_NE(server->port(), 0);
  }

  testing::IoThread io_thread;
  std::shared_ptr<TestService> service = std::make_shared<TestService>();
  std::unique_ptr<WsServer> server;
};

TEST_F(WsServerTest, AcceptsAnUpgradeAndCarriesMessagesBothWays) {
  std::mutex mu;
  std::optional<WsUpgradeRequest> seen;
  auto handler = std::make_shared<EchoHandler>();
  service->on_upgrade = [&](WsUpgradeRequest r, std::function<void(WsDecision)> decide) {
    {
      std::lock_guard lock(mu);
      seen = std::move(r);
    }
    decide(WsDecision{handler, {}, 0, ""});
  };
  listen();
  TestClient client(io_thread.io, server->port(), "/?a=1&b=x%20y");
  ASSERT_TRUE(client.wait_open());
  EXPECT_EQ(client.next(), "hello, pre-encoded");
  ASSERT_TRUE(client.send("ping"));
  EXPECT_EQ(client.next(), "echo:ping");
  EXPECT_EQ(server->connection_count(), 1u);
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->path, "/");
    EXPECT_EQ(seen->query, "a=1&b=x%20y");
    EXPECT_EQ(seen->remote_address.rfind("127.0.0.1:", 0), 0u) << seen->remote_address;
    bool upgrade_header = false;
    for (const auto& [name, value] : seen->headers) {
      for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;  // names lower-cased
      upgrade_header = upgrade_header || (name == "upgrade" && value == "websocket");
    }
    EXPECT_TRUE(upgrade_header);
  }
  client.close();
  EXPECT_TRUE(client.wait_closed());
  EXPECT_TRUE(eventually([&] { return handler->closed == 1; }));
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

TEST_F(WsServerTest, ARefusalAnswersTheServicesStatus) {
  service->on_upgrade = [](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    decide(WsDecision{nullptr, {}, 403, "Go away\n"});
  };
  listen();
  const RawAnswer answer = raw_exchange(server->port(), upgrade_request("/"));
  EXPECT_TRUE(answer.closed);
  const std::string& response = answer.bytes;
  EXPECT_EQ(response.substr(0, response.find("\r\n")), "HTTP/1.1 403 Forbidden");
  EXPECT_NE(response.find("\r\n\r\nGo away\n"), std::string::npos) << response;
  EXPECT_EQ(server->connection_count(), 0u);
  // The WebSocket client sees the refusal as a failed handshake.
  TestClient client(io_thread.io, server->port());
  EXPECT_FALSE(client.wait_open());
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(WsServerTest, OnlyUpgradesOfTheRootPathAreServed) {
  service->on_upgrade = [](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    decide(WsDecision{std::make_shared<EchoHandler>(), {}, 0, ""});
  };
  listen();
  EXPECT_EQ(status_line(server->port(), "/other"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_line(server->port(), "/other?x=1"), "HTTP/1.1 404 Not Found");
  const std::string plain = raw_exchange(server->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n").bytes;
  EXPECT_EQ(plain.substr(0, plain.find("\r\n")), "HTTP/1.1 426 Upgrade Required");
  const std::string old_version = raw_exchange(
      server->port(), "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n").bytes;
  EXPECT_EQ(old_version.substr(0, old_version.find("\r\n")), "HTTP/1.1 426 Upgrade Required");
  EXPECT_EQ(service->upgrades, 0);  // none of these reached the service
  EXPECT_EQ(status_line(server->port(), "/?q=1").substr(0, 12), "HTTP/1.1 101");
  EXPECT_EQ(service->upgrades, 1);
}

TEST_F(WsServerTest, AnUndecidedUpgradeGetsTheTimeoutStatus) {
  std::mutex mu;
  std::function<void(WsDecision)> late;
  service->timeout = 100ms;
  service->status_on_timeout = 401;
  service->on_upgrade = [&](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    std::lock_guard lock(mu);
    late = std::move(decide);  // never decided in time
  };
  listen();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(status_line(server->port()), "HTTP/1.1 401 Unauthorized");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 90ms);
  // A decision after the deadline is ignored.
  auto handler = std::make_shared<EchoHandler>();
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(late);
    late(WsDecision{handler, {}, 0, ""});
  }
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server->connection_count(), 0u);
  EXPECT_EQ(handler.use_count(), 1);  // never handed to a connection
}

TEST_F(WsServerTest, AClientThatSendsNoRequestIsDroppedAfterTheHandshakeTimeout) {
  service->on_upgrade = [](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    decide(WsDecision{std::make_shared<EchoHandler>(), {}, 0, ""});
  };
  listen(100ms);
  const auto started = std::chrono::steady_clock::now();
  const RawAnswer answer = raw_exchange(server->port(), "");
  EXPECT_TRUE(answer.closed);
  EXPECT_EQ(answer.bytes, "");  // closed without a word
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, kWait);
  EXPECT_EQ(service->upgrades, 0);
}

TEST_F(WsServerTest, OversizedMessagesCloseTheConnectionWith1009) {
  auto handler = std::make_shared<EchoHandler>();
  service->on_upgrade = [&](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    WsDecision d{handler, {}, 0, ""};
    d.options.max_message_bytes = 16;
    decide(std::move(d));
  };
  listen();
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  EXPECT_EQ(client.next(), "hello, pre-encoded");
  ASSERT_TRUE(client.send("short"));
  EXPECT_EQ(client.next(), "echo:short");
  ASSERT_TRUE(client.send(std::string(100, 'x')));
  std::optional<std::string> reason = client.wait_closed();
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("1009"), std::string::npos) << *reason;
  EXPECT_TRUE(eventually([&] { return handler->closed == 1; }));
}

TEST_F(WsServerTest, StopDropsConnectionsAndFreesThePort) {
  auto handler = std::make_shared<EchoHandler>();
  service->on_upgrade = [&](WsUpgradeRequest, std::function<void(WsDecision)> decide) {
    decide(WsDecision{handler, {}, 0, ""});
  };
  listen();
  const uint16_t port = server->port();
  TestClient client(io_thread.io, port);
  ASSERT_TRUE(client.wait_open());
  server->stop();
  EXPECT_EQ(server->port(), 0);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_TRUE(eventually([&] { return handler->closed == 1; }));
  // The same port is free at once.
  WsServer again(io_thread.io, service);
  EXPECT_NO_THROW(again.listen("127.0.0.1", port));
  EXPECT_EQ(again.port(), port);
  again.stop();
}

TEST_F(WsServerTest, ListeningOnABusyPortThrows) {
  asio::io_context other;
  asio::ip::tcp::acceptor busy(other, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  WsServer s(io_thread.io, service);
  EXPECT_THROW(s.listen("127.0.0.1", busy.local_endpoint().port()), std::runtime_error);
  EXPECT_EQ(s.port(), 0);
}

// --- the iii-stream client socket ---

class StreamSocketTest : public ::testing::Test {
 protected:
  StreamSocketTest() {
    auto w = std::make_shared<InProcessWorker>(engine, "handlers");
    w->add_function(FunctionSpec{"test::join", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                      record("test::join", c.data);
                      return Outcome::success(join_answer());
                    }));
    w->add_function(FunctionSpec{"test::leave", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                      record("test::leave", c.data);
                      return Outcome::success("null");
                    }));
    w->add_function(FunctionSpec{"test::auth", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                      record("test::auth", c.data);
                      return Outcome::success(R"({"context":{"user":"ann"}})");
                    }));
    w->add_function(FunctionSpec{"test::auth_fails", "", {}, {}, {}}, SyncFunctionHandler([](const InProcessCall&) {
                      return Outcome::failure("denied", "no");
                    }));
    w->add_function(FunctionSpec{"test::auth_null", "", {}, {}, {}},
                    SyncFunctionHandler([](const InProcessCall&) { return Outcome::success("null"); }));
    engine.add_in_process_worker(w);
    handlers = w;
  }
  ~StreamSocketTest() override {
    if (server) {
      server->stop();
      eventually([&] { return server->connection_count() == 0; });
    }
    io_thread.stop();
  }

  void start(StreamConfig config = {}) {
    service = std::make_shared<StreamService>(engine, config);
    service->open(StreamBackend{store, nullptr, nullptr});
    endpoint = std::make_shared<InProcessWorker>(engine, "iii-stream");
    add_stream_functions(*endpoint, service);
    engine.add_in_process_worker(endpoint);
    server = std::make_unique<WsServer>(io_thread.io, std::make_shared<StreamSocketService>(service), 2s);
    server->listen("127.0.0.1", 0);
    ASSERT_NE(server->port(), 0);
  }
  void bind(StreamTriggers::Kind kind, const std::string& id, const std::string& function_id) {
    ASSERT_EQ(service->triggers().activate(kind, TriggerBinding{id, "x", function_id, "null", "", ""}), std::nullopt);
  }
  json::value ok(const std::string& function_id, const std::string& data) {
    std::optional<Outcome> out;
    engine.invoke(function_id, data, {}, [&](Outcome o) { out = std::move(o); });
    EXPECT_TRUE(out && out->ok()) << function_id << " " << data;
    return out && out->ok() ? parse(out->result) : json::value();
  }
  void set(const std::string& group, const std::string& item, const std::string& data, const std::string& stream = "s") {
    ok("stream::set", R"({"stream_name":")" + stream + R"(","group_id":")" + group + R"(","item_id":")" + item +
                          R"(","data":)" + data + "}");
  }
  static std::string join(const std::string& sub, const std::string& group, const std::string& item = "",
                          const std::string& stream = "s") {
    return R"({"type":"join","data":{"subscriptionId":")" + sub + R"(","streamName":")" + stream + R"(","groupId":")" +
           group + (item.empty() ? std::string("\"") : R"(","id":")" + item + "\"") + "}}";
  }
  static std::string leave(const std::string& sub, const std::string& group, const std::string& stream = "s") {
    return R"({"type":"leave","data":{"subscriptionId":")" + sub + R"(","streamName":")" + stream + R"(","groupId":")" +
           group + R"("}})";
  }
  // A message's parts, timestamp aside (checked to be an integer).
  static json::value without_timestamp(json::value m) {
    EXPECT_TRUE(m.is_object() && m.as_object().contains("timestamp") && m.at("timestamp").is_int64()) << m;
    if (m.is_object()) m.as_object().erase("timestamp");
    return m;
  }
  static json::value message(const std::string& group, const std::string& id, const std::string& event,
                             const std::string& stream = "s") {
    return parse(R"({"type":"stream","streamName":")" + stream + R"(","groupId":")" + group + R"(","id":)" +
                 (id.empty() ? std::string("null") : "\"" + id + "\"") + R"(,"event":)" + event + "}");
  }

  void record(const std::string& fn, std::string_view data) {
    std::lock_guard lock(mu);
    calls.emplace_back(fn, parse(data));
  }
  std::vector<std::pair<std::string, json::value>> calls_of(const std::string& fn) {
    std::lock_guard lock(mu);
    std::vector<std::pair<std::string, json::value>> out;
    for (const auto& c : calls)
      if (c.first == fn) out.push_back(c);
    return out;
  }
  std::string join_answer() {
    std::lock_guard lock(mu);
    return join_answer_;
  }

  testing::IoThread io_thread;  // first: stopped last
  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000}};
  std::shared_ptr<StreamStore> store = open_memory_stream_store();
  std::shared_ptr<InProcessWorker> handlers;
  std::shared_ptr<StreamService> service;
  std::shared_ptr<InProcessWorker> endpoint;
  std::unique_ptr<WsServer> server;
  std::mutex mu;
  std::vector<std::pair<std::string, json::value>> calls;
  std::string join_answer_ = "null";
};

TEST_F(StreamSocketTest, JoinSyncsThenStreamsTheGroupsChanges) {
  start();
  set("g", "a", R"({"n":1})");
  set("g", "b", R"({"n":2})");
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  ASSERT_TRUE(client.send(join("sub", "g")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "", R"({"type":"sync","data":[{"n":1},{"n":2}]})"));
  EXPECT_EQ(service->hub().size(), 1u);
  set("g", "a", R"({"n":3})");
  set("other", "a", "0");  // another group: not sent
  ok("stream::delete", R"({"stream_name":"s","group_id":"g","item_id":"b"})");
  ok("stream::send", R"({"stream_name":"s","group_id":"g","type":"typing","data":"al"})");
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "a", R"({"type":"update","data":{"n":3}})"));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "b", R"({"type":"delete","data":{"n":2}})"));
  EXPECT_EQ(without_timestamp(client.next_json()),
            message("g", "", R"({"type":"event","event":{"type":"typing","data":"al"}})"));
}

TEST_F(StreamSocketTest, ItemJoinSyncsTheItemAndSeesOnlyIt) {
  start();
  set("g", "a", R"("A")");
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  ASSERT_TRUE(client.send(join("one", "g", "a")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "a", R"({"type":"sync","data":"A"})"));
  ASSERT_TRUE(client.send(join("missing", "g", "zz")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "zz", R"({"type":"sync","data":null})"));
  set("g", "b", "1");  // neither item
  set("g", "a", R"("A2")");
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "a", R"({"type":"update","data":"A2"})"));
}

TEST_F(StreamSocketTest, JoinAndLeaveTriggersAndRefusal) {
  start();
  bind(StreamTriggers::Kind::kJoin, "j", "test::join");
  bind(StreamTriggers::Kind::kLeave, "l", "test::leave");
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  ASSERT_TRUE(client.send(join("sub", "g", "i")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "i", R"({"type":"sync","data":null})"));
  auto joins = calls_of("test::join");
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].second, parse(R"({"subscription_id":"sub","stream_name":"s","group_id":"g","id":"i"})"));

  ASSERT_TRUE(client.send(leave("sub", "g")));
  ASSERT_TRUE(eventually([&] { return calls_of("test::leave").size() == 1; }));
  // The leave names what was joined under that id.
  EXPECT_EQ(calls_of("test::leave")[0].second,
            parse(R"({"subscription_id":"sub","stream_name":"s","group_id":"g","id":"i"})"));
  EXPECT_EQ(service->hub().size(), 0u);

  {
    std::lock_guard lock(mu);
    join_answer_ = R"({"unauthorized":true})";
  }
  ASSERT_TRUE(client.send(join("denied", "g")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "", R"({"type":"unauthorized"})"));
  EXPECT_EQ(service->hub().size(), 0u);
}

TEST_F(StreamSocketTest, ClosingTheSocketLeavesEverySubscription) {
  start();
  bind(StreamTriggers::Kind::kLeave, "l", "test::leave");
  {
    TestClient client(io_thread.io, server->port());
    ASSERT_TRUE(client.wait_open());
    ASSERT_TRUE(client.send(join("a", "g1")));
    ASSERT_TRUE(client.next());
    ASSERT_TRUE(client.send(join("b", "g2", "i")));
    ASSERT_TRUE(client.next());
    EXPECT_EQ(service->hub().size(), 2u);
    client.close();
    EXPECT_TRUE(client.wait_closed());
  }
  ASSERT_TRUE(eventually([&] { return calls_of("test::leave").size() == 2; }));
  EXPECT_EQ(service->hub().size(), 0u);
}

// A client joining again with a subscription id it already uses, on another group: the socket
// keeps one subscription per id (the newest), so the hub must not keep the old group's (else the
// client would go on receiving the old group's changes, and the hub would keep the closed
// connection alive for ever).
TEST_F(StreamSocketTest, RejoiningASubscriptionIdOnAnotherGroupDropsTheOldGroup) {
  start();
  {
    TestClient client(io_thread.io, server->port());
    ASSERT_TRUE(client.wait_open());
    ASSERT_TRUE(client.send(join("sub", "g1")));
    ASSERT_TRUE(client.next());
    ASSERT_TRUE(client.send(join("sub", "g2")));
    ASSERT_TRUE(client.next());
    set("g1", "x", "1");  // must not arrive
    set("g2", "y", "2");
    EXPECT_EQ(without_timestamp(client.next_json()), message("g2", "y", R"({"type":"create","data":2})"));
    EXPECT_EQ(service->hub().size(), 1u);
    client.close();
    EXPECT_TRUE(client.wait_closed());
  }
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return service->hub().size() == 0; })) << service->hub().size() << " left in the hub";
}

// A leave carries streamName/groupId beside the subscription id. The socket forgets the
// subscription by id, so the hub entry must go with it even when the leave names another group
// (else changes would keep arriving after the leave, and the entry would outlive the socket).
TEST_F(StreamSocketTest, LeaveRemovesTheSubscriptionItNames) {
  start();
  {
    TestClient client(io_thread.io, server->port());
    ASSERT_TRUE(client.wait_open());
    ASSERT_TRUE(client.send(join("sub", "g1")));
    ASSERT_TRUE(client.next());
    ASSERT_TRUE(client.send(join("marker", "g3")));
    ASSERT_TRUE(client.next());
    ASSERT_TRUE(client.send(leave("sub", "g2")));  // the id it joined, another group
    ASSERT_TRUE(eventually([&] { return service->hub().size() <= 1; }))
        << "the leave of `sub` left " << service->hub().size() << " subscriptions in the hub";
    set("g1", "x", "1");  // must not arrive: `sub` was left
    set("g3", "y", "2");
    EXPECT_EQ(without_timestamp(client.next_json()), message("g3", "y", R"({"type":"create","data":2})"));
    client.close();
    EXPECT_TRUE(client.wait_closed());
  }
  EXPECT_TRUE(eventually([&] { return service->hub().size() == 0; })) << service->hub().size() << " left in the hub";
}

TEST_F(StreamSocketTest, MalformedMessagesAreIgnored) {
  start();
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  for (const char* bad : {"not json", "[]", R"({"type":"join"})", R"({"type":"subscribe","data":{}})",
                          R"({"type":"join","data":{"subscriptionId":"a","streamName":"s"}})",
                          R"({"type":"join","data":{"subscriptionId":"a","streamName":"s","groupId":"g","id":5}})",
                          R"({"type":"join","data":{"subscriptionId":"a","streamName":"s\u0000t","groupId":"g"}})", "   "})
    ASSERT_TRUE(client.send(bad));
  ASSERT_TRUE(client.send(join("ok", "g")));
  EXPECT_EQ(without_timestamp(client.next_json()), message("g", "", R"({"type":"sync","data":[]})"));
  EXPECT_EQ(service->hub().size(), 1u);
}

TEST_F(StreamSocketTest, TooManySubscriptionsClosesWith1008) {
  StreamConfig c;
  c.max_subscriptions_per_socket = 1;
  start(c);
  TestClient client(io_thread.io, server->port());
  ASSERT_TRUE(client.wait_open());
  ASSERT_TRUE(client.send(join("a", "g")));
  ASSERT_TRUE(client.next());
  ASSERT_TRUE(client.send(join("a", "g", "i")));  // the same id again: a replacement, allowed
  ASSERT_TRUE(client.next());
  ASSERT_TRUE(client.send(join("b", "g")));
  std::optional<std::string> reason = client.wait_closed();
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("1008"), std::string::npos) << *reason;
  EXPECT_TRUE(eventually([&] { return service->hub().size() == 0; }));
}

TEST_F(StreamSocketTest, AuthFunctionSeesTheRequestAndItsContextReachesTheTriggers) {
  StreamConfig c;
  c.auth_function = "test::auth";
  start(c);
  bind(StreamTriggers::Kind::kJoin, "j", "test::join");
  TestClient client(io_thread.io, server->port(), "/?token=abc&x=1&x=2");
  ASSERT_TRUE(client.wait_open());
  auto auths = calls_of("test::auth");
  ASSERT_EQ(auths.size(), 1u);
  const json::value& request = auths[0].second;
  EXPECT_EQ(request.at("path"), "/");
  EXPECT_EQ(request.at("query_params"), parse(R"({"token":["abc"],"x":["1","2"]})"));
  EXPECT_EQ(request.at("headers").at("upgrade"), "websocket");
  EXPECT_EQ(std::string(request.at("addr").as_string()).rfind("127.0.0.1:", 0), 0u);
  ASSERT_TRUE(client.send(join("sub", "g")));
  ASSERT_TRUE(client.next());
  auto joins = calls_of("test::join");
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].second.at("context"), parse(R"({"user":"ann"})"));
}

TEST_F(StreamSocketTest, AuthFailsClosed) {
  for (const char* fn : {"test::auth_fails", "test::auth_null", "test::no_such_function"}) {
    StreamConfig c;
    c.auth_function = fn;
    start(c);
    EXPECT_EQ(status_line(server->port()), "HTTP/1.1 401 Unauthorized") << fn;
    EXPECT_EQ(server->connection_count(), 0u) << fn;
    server->stop();
    engine.detach(endpoint);
  }
}

TEST_F(StreamSocketTest, AnAuthFunctionThatDoesNotAnswerInTimeRefuses) {
  std::mutex pending_mu;
  std::vector<Completion> pending;  // answered only at the end
  auto slow = std::make_shared<InProcessWorker>(engine, "slow");
  slow->add_function(FunctionSpec{"test::slow_auth", "", {}, {}, {}},
                     AsyncFunctionHandler([&](const InProcessCall&, Completion done) {
                       std::lock_guard lock(pending_mu);
                       pending.push_back(std::move(done));
                     }));
  engine.add_in_process_worker(slow);
  StreamConfig c;
  c.auth_function = "test::slow_auth";
  c.auth_timeout = 100ms;
  start(c);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(status_line(server->port()), "HTTP/1.1 401 Unauthorized");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 90ms);
  // The late answer changes nothing.
  std::vector<Completion> late;
  {
    std::lock_guard lock(pending_mu);
    late.swap(pending);
  }
  ASSERT_EQ(late.size(), 1u);
  late[0](Outcome::success(R"({"context":null})"));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server->connection_count(), 0u);
}

// --- the same, through the iii-stream worker itself (its start() opens the listener) ---

class StreamWorkerSocketTest : public ::testing::Test {
 protected:
  ~StreamWorkerSocketTest() override {
    if (worker) worker->stop();
    io_thread.stop();
  }
  // Starts a worker on a loopback port that was free a moment ago (the worker does not tell
  // which port 0 became).
  void start(StreamConfig config) {
    {
      asio::io_context probe_io;
      asio::ip::tcp::acceptor probe(probe_io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = probe.local_endpoint().port();
    }
    config.host = "127.0.0.1";
    config.port = port;
    worker = make_stream_worker(io_thread.io, engine, config, open_memory_stream_store());
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
  }

  testing::IoThread io_thread;
  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000}};
  std::unique_ptr<BuiltinWorker> worker;
  uint16_t port = 0;
};

TEST_F(StreamWorkerSocketTest, ClientsOfTheWorkersListenerSeeItsChanges) {
  start(StreamConfig{});
  TestClient client(io_thread.io, port);
  ASSERT_TRUE(client.wait_open());
  ASSERT_TRUE(client.send(R"({"type":"join","data":{"subscriptionId":"x","streamName":"s","groupId":"g"}})"));
  json::value sync = client.next_json();
  EXPECT_EQ(sync.at("event"), parse(R"({"type":"sync","data":[]})"));
  std::optional<Outcome> out;
  engine.invoke("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":{"v":1}})", {},
                [&](Outcome o) { out = std::move(o); });
  ASSERT_TRUE(out && out->ok());
  json::value change = client.next_json();
  EXPECT_EQ(change.at("id"), "i");
  EXPECT_EQ(change.at("event"), parse(R"({"type":"create","data":{"v":1}})"));
  worker->stop();  // drops the client
  EXPECT_TRUE(client.wait_closed());
}

}  // namespace
}  // namespace iii
