// The pipelining Redis client (store/redis_client.h) against real redis-servers started on free
// loopback ports, and against a socket that never answers. Behaviour only: every wait has a
// deadline, nothing is timed.
#include "store/redis_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "eventually.h"
#include "io_thread.h"
#include "redis_server.h"
#include "wire/flush_batch.h"

namespace iii {
namespace {

using namespace std::chrono_literals;

// The outcome of one asynchronous command, waited for with a deadline.
struct Outcome {
  std::string error;  // empty: `reply` holds the answer
  RedisReply reply;
};

struct Waiter {
  std::promise<Outcome> promise;
  std::future<Outcome> future = promise.get_future();
  RedisCallback callback() {
    return [this](std::exception_ptr e, RedisReply r) {
      Outcome o;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          o.error = x.what();
        }
      }
      o.reply = std::move(r);
      promise.set_value(std::move(o));
    };
  }
  Outcome get(std::chrono::milliseconds limit = 10s) {
    if (future.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within " << limit.count() << " ms";
      return Outcome{"no answer", {}};
    }
    return future.get();
  }
};

std::string error_of(RedisClient& client, const std::vector<std::string_view>& command) {
  try {
    client.run(command);
  } catch (const RedisError& e) {
    return e.what();
  }
  return "";
}

RedisEndpoint endpoint_at(uint16_t port) { return RedisEndpoint::parse("redis://127.0.0.1:" + std::to_string(port)); }

TEST(RedisClient, PipelinesTheCommandsOfManyThreadsOnOneConnectionAndMatchesRepliesInOrder) {
  RedisClient client(testing::RedisServer::shared().endpoint());
  const std::string name = "pipeline-test-" + std::to_string(::getpid());
  ASSERT_EQ(client.run({"CLIENT", "SETNAME", name}).str, "OK");
  constexpr int kThreads = 4, kEach = 2000;
  std::atomic<int> answered{0}, wrong{0}, out_of_order{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto last = std::make_shared<int>(-1);  // the last answered command of this thread
      for (int i = 0; i < kEach; ++i) {
        const std::string text = std::to_string(t) + ":" + std::to_string(i);
        client.command({"ECHO", text}, [&, last, text, i](std::exception_ptr e, RedisReply r) {
          if (e || r.str != text) ++wrong;
          if (*last != i - 1) ++out_of_order;  // one thread's commands are answered in its order
          *last = i;
          ++answered;
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(testing::eventually([&] { return answered == kThreads * kEach; }, 20s)) << answered;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(out_of_order, 0);
  // One connection did it all.
  const std::string clients = client.run({"CLIENT", "LIST"}).str;
  size_t named = 0;
  for (size_t at = clients.find(name); at != std::string::npos; at = clients.find(name, at + 1)) ++named;
  EXPECT_EQ(named, 1u);
}

TEST(RedisClient, AnErrorReplyIsAnAnswerAndTheConnectionGoesOn) {
  RedisClient client(testing::RedisServer::shared().endpoint());
  const RedisReply id = client.run({"CLIENT", "ID"});
  EXPECT_TRUE(client.run({"NOSUCHCOMMAND"}).is_error());
  EXPECT_EQ(client.run({"PING"}).str, "PONG");
  EXPECT_EQ(client.run({"CLIENT", "ID"}).integer, id.integer);
}

TEST(RedisClient, ATransactionRunsAsOneAndItsAnswerIsTheArrayOfItsReplies) {
  RedisClient client(testing::RedisServer::shared().endpoint());
  const std::string key = "tx-test-" + std::to_string(::getpid());
  client.run({"DEL", key});
  // Many threads, each a transaction that reads then appends: were another command let in
  // between the two, some GET would not see the string its own APPEND extended.
  constexpr int kThreads = 4, kEach = 300;
  std::atomic<int> answered{0}, torn{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        client.transaction({{"GET", key}, {"APPEND", key, "x"}}, [&](std::exception_ptr e, RedisReply r) {
          if (e || r.type != RedisReply::Type::kArray || r.elements.size() != 2) {
            ++wrong;
          } else {
            const size_t before = r.elements[0].type == RedisReply::Type::kString ? r.elements[0].str.size() : 0;
            if (r.elements[1].integer != static_cast<long long>(before) + 1) ++torn;
          }
          ++answered;
        });
        client.command({"PING"}, [](std::exception_ptr, RedisReply) {});  // between transactions, never inside
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(testing::eventually([&] { return answered == kThreads * kEach; }, 20s)) << answered;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(client.run({"STRLEN", key}).integer, kThreads * kEach);

  // A command Redis refuses while queueing aborts the whole transaction: nothing of it runs, the
  // answer is EXECABORT, and the connection goes on.
  Waiter aborted;
  client.transaction({{"SET", key, "changed"}, {"GET"}}, aborted.callback());
  const Outcome o = aborted.get();
  EXPECT_EQ(o.error, "");
  ASSERT_TRUE(o.reply.is_error());
  EXPECT_NE(o.reply.str.find("EXECABORT"), std::string::npos) << o.reply.str;
  EXPECT_EQ(client.run({"STRLEN", key}).integer, kThreads * kEach);

  // More commands than the transaction keeps on its stack: the same, each reply in order.
  Waiter many;
  client.transaction({{"DEL", key}, {"INCR", key}, {"INCR", key}, {"INCR", key}, {"INCR", key}, {"INCR", key},
                      {"INCR", key}, {"INCR", key}, {"GET", key}},
                     many.callback());
  const Outcome m = many.get();
  EXPECT_EQ(m.error, "");
  ASSERT_EQ(m.reply.type, RedisReply::Type::kArray);
  ASSERT_EQ(m.reply.elements.size(), 9u);
  for (size_t i = 1; i < 8; ++i) EXPECT_EQ(m.reply.elements[i].integer, static_cast<long long>(i));
  EXPECT_EQ(m.reply.elements[8].str, "7");
  client.run({"DEL", key});
}

TEST(RedisClient, AReplyLateBeyondTheDeadlineFailsAndResetsTheConnection) {
  testing::RedisServer server;
  RedisClientOptions options;
  options.timeout = 300ms;
  RedisClient client(server.endpoint(), options);
  const long long first_id = client.run({"CLIENT", "ID"}).integer;
  // Another client pauses the server: our command is read but not answered for 2 s.
  auto admin = RedisConnection::open(server.endpoint(), 5s);
  ASSERT_EQ(admin->run({"CLIENT", "PAUSE", "2000", "ALL"}).str, "OK");
  const std::string error = error_of(client, {"ECHO", "late"});
  EXPECT_NE(error.find("redis " + server.endpoint().address() + ": timed out after 300 ms waiting for a reply"),
            std::string::npos)
      << error;
  ASSERT_EQ(admin->run({"CLIENT", "UNPAUSE"}).str, "OK");
  // The server answers the late command on the old connection, which is gone: each later command
  // gets its own reply, on a new connection.
  std::string echoed;
  ASSERT_TRUE(testing::eventually([&] {
    try {
      echoed = client.run({"ECHO", "fresh"}).str;
      return true;
    } catch (const RedisError&) {
      return false;
    }
  })) << "no recovery";
  EXPECT_EQ(echoed, "fresh");
  EXPECT_EQ(client.run({"ECHO", "again"}).str, "again");
  EXPECT_NE(client.run({"CLIENT", "ID"}).integer, first_id);
}

TEST(RedisClient, AFullPipelineRefusesAtOnceAndTheSilentServerTimesOut) {
  uint16_t port = 0;
  const int fd = testing::RedisServer::loopback_socket(true, port);  // accepts in the backlog, never answers
  RedisClientOptions options;
  options.timeout = 300ms;
  options.max_pending = 3;
  RedisClient client(endpoint_at(port), options);
  Waiter w[4];
  for (auto& x : w) client.command({"PING"}, x.callback());
  const Outcome refused = w[3].get(1s);  // answered before the silent server could time out
  EXPECT_NE(refused.error.find("the pipeline is full (3 commands waiting for a reply)"), std::string::npos)
      << refused.error;
  for (int i = 0; i < 3; ++i) {
    const Outcome o = w[i].get();
    EXPECT_NE(o.error.find("timed out after 300 ms waiting for a reply"), std::string::npos) << o.error;
  }
  ::close(fd);
}

TEST(RedisClient, RedisKilledAndRestartedGivesClearErrorsThenRecovers) {
  auto server = std::make_unique<testing::RedisServer>();
  const uint16_t port = server->port();
  const std::string address = "redis 127.0.0.1:" + std::to_string(port) + ": ";
  RedisClientOptions options;
  options.timeout = 1s;
  RedisClient client(endpoint_at(port), options);
  ASSERT_EQ(client.run({"SET", "k", "v"}).str, "OK");
  server->stop();  // SIGKILL
  // Every command fails with an error naming the server; none waits for a deadline to find out.
  for (int i = 0; i < 20; ++i) {
    const std::string error = error_of(client, {"GET", "k"});
    ASSERT_EQ(error.rfind(address, 0), 0u) << error;
    EXPECT_TRUE(error.find("closed the connection") != std::string::npos ||
                error.find("cannot connect: Connection refused") != std::string::npos || error.find("read:") != std::string::npos ||
                error.find("write:") != std::string::npos)
        << error;
  }
  server = std::make_unique<testing::RedisServer>(port);
  ASSERT_TRUE(testing::eventually([&] { return error_of(client, {"PING"}).empty(); })) << error_of(client, {"PING"});
  EXPECT_EQ(client.run({"SET", "k", "w"}).str, "OK");
  EXPECT_EQ(client.run({"GET", "k"}).str, "w");
}

TEST(RedisClient, NothingListeningIsAClearErrorAndEveryLaterCommandFailsToo) {
  RedisClient client(endpoint_at(testing::RedisServer::free_port()));
  for (int i = 0; i < 5; ++i) {
    const std::string error = error_of(client, {"PING"});
    EXPECT_NE(error.find("cannot connect: Connection refused"), std::string::npos) << error;
  }
}

TEST(RedisClient, ClosingAnswersEveryCommandInFlight) {
  uint16_t port = 0;
  const int fd = testing::RedisServer::loopback_socket(true, port);
  Waiter w;
  {
    RedisClient client(endpoint_at(port));  // 5 s timeout: closing comes first
    client.command({"PING"}, w.callback());
  }
  const Outcome o = w.get();
  EXPECT_NE(o.error.find("the client is closed"), std::string::npos) << o.error;
  ::close(fd);
}

TEST(RedisClient, WaitingOnItsOwnThreadIsRefusedAndDeferRunsThere) {
  RedisClient client(testing::RedisServer::shared().endpoint());
  Waiter w;
  std::string inner;
  client.command({"PING"}, [&](std::exception_ptr e, RedisReply r) {
    inner = error_of(client, {"PING"});  // would wait for itself
    w.callback()(e, std::move(r));
  });
  EXPECT_EQ(w.get().reply.str, "PONG");
  EXPECT_NE(inner.find("on the client's own thread"), std::string::npos) << inner;
  std::promise<bool> ran;
  client.defer(1ms, [&] { ran.set_value(client.on_client_thread()); });
  auto f = ran.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

TEST(RedisClient, AuthenticatesAndSelectsTheDatabaseOnEveryConnection) {
  testing::RedisServer server;
  auto admin = RedisConnection::open(server.endpoint(), 5s);
  ASSERT_EQ(admin->run({"CONFIG", "SET", "requirepass", "s3cret"}).str, "OK");
  RedisClient client(RedisEndpoint::parse("redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/3"));
  ASSERT_EQ(client.run({"SET", "k", "in-3"}).str, "OK");
  EXPECT_EQ(client.run({"CLIENT", "INFO"}).str.find("db=3") != std::string::npos, true);
  RedisClient wrong(RedisEndpoint::parse("redis://:nope@127.0.0.1:" + std::to_string(server.port())));
  const std::string error = error_of(wrong, {"PING"});
  EXPECT_NE(error.find("AUTH"), std::string::npos) << error;
}

TEST(RedisClient, ALoopsCommandsGoDownItsOwnLaneAndAreAnsweredOnItsThread) {
  testing::IoThread loop;
  RedisClient client(testing::RedisServer::shared().endpoint(), {.loops = {&loop.io}});
  const long long home_id = client.run({"CLIENT", "ID"}).integer;
  // Issued on the loop: a connection of its own, answered on the loop's thread, in order.
  struct Seen {
    std::mutex mu;
    std::vector<std::string> replies;
    long long lane_id = 0;
    int off_loop = 0;
  } seen;
  Waiter last;
  loop.run_here([&] {
    client.command({"CLIENT", "ID"}, [&](std::exception_ptr, RedisReply r) {
      std::lock_guard lock(seen.mu);
      seen.lane_id = r.integer;
      if (!loop.io.get_executor().running_in_this_thread()) ++seen.off_loop;
    });
    for (int i = 0; i < 100; ++i) {
      client.command({"ECHO", std::to_string(i)}, [&](std::exception_ptr, RedisReply r) {
        std::lock_guard lock(seen.mu);
        seen.replies.push_back(r.str);
        if (!loop.io.get_executor().running_in_this_thread()) ++seen.off_loop;
      });
    }
    client.command({"PING"}, last.callback());
    return 0;
  });
  EXPECT_EQ(last.get().reply.str, "PONG");
  std::lock_guard lock(seen.mu);
  EXPECT_NE(seen.lane_id, 0);
  EXPECT_NE(seen.lane_id, home_id);
  EXPECT_EQ(seen.off_loop, 0);
  ASSERT_EQ(seen.replies.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen.replies[i], std::to_string(i));
}

TEST(RedisClient, AWaitOnALoopsThreadUsesTheClientsOwnConnectionInsteadOfHangingOnTheLane) {
  testing::IoThread loop;
  RedisClient client(testing::RedisServer::shared().endpoint(), {.loops = {&loop.io}});
  const long long home_id = client.run({"CLIENT", "ID"}).integer;
  // run() on the loop's thread: its lane's replies are read by that very thread, so the command
  // goes down the client's own connection instead, inside a FlushBatch too.
  const long long waited_id = loop.run_here([&] {
    FlushBatch batch;
    return client.run({"CLIENT", "ID"}).integer;
  });
  EXPECT_EQ(waited_id, home_id);
  // A WaitingCaller scope does the same for commands issued through command(), and writes them
  // at once although a FlushBatch is open (it would end only after the wait).
  const long long scoped_id = loop.run_here([&] {
    FlushBatch batch;
    RedisClient::WaitingCaller waiting;
    Waiter w;
    client.command({"CLIENT", "ID"}, w.callback());
    return w.get().reply.integer;
  });
  EXPECT_EQ(scoped_id, home_id);
}

TEST(RedisClient, ClosingAnswersTheCommandsInFlightOnALane) {
  uint16_t port = 0;
  const int fd = testing::RedisServer::loopback_socket(true, port);  // accepts, never answers
  testing::IoThread loop;
  Waiter w;
  {
    RedisClient client(endpoint_at(port), {.loops = {&loop.io}});
    loop.run_here([&] {
      client.command({"PING"}, w.callback());
      return 0;
    });
  }
  const Outcome o = w.get();
  EXPECT_NE(o.error.find("the client is closed"), std::string::npos) << o.error;
  ::close(fd);
}

// Reads what the client wrote to `conn` within `limit` ("" when nothing came).
std::string read_within(int conn, int limit_ms) {
  pollfd p{conn, POLLIN, 0};
  if (::poll(&p, 1, limit_ms) != 1) return "";
  char buf[4096];
  const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(RedisClient, CommandsIssuedUnderAFlushBatchLeaveTogetherWhenItEnds) {
  uint16_t port = 0;
  const int listener = testing::RedisServer::loopback_socket(true, port);
  RedisClient client(endpoint_at(port));
  Waiter first;
  client.command({"PING"}, first.callback());
  pollfd p{listener, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the client did not connect";
  const int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  EXPECT_EQ(read_within(conn, 10000), "*1\r\n$4\r\nPING\r\n");
  ASSERT_EQ(::send(conn, "+PONG\r\n", 7, MSG_NOSIGNAL), 7);
  ASSERT_EQ(first.get().reply.str, "PONG");  // connected and answering
  Waiter a, b;
  {
    FlushBatch batch;
    client.command({"ECHO", "a"}, a.callback());
    client.command({"ECHO", "b"}, b.callback());
    EXPECT_EQ(read_within(conn, 0), "") << "written before the batch ended";
  }
  EXPECT_EQ(read_within(conn, 10000), "*2\r\n$4\r\nECHO\r\n$1\r\na\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n");
  ASSERT_EQ(::send(conn, "$1\r\na\r\n$1\r\nb\r\n", 14, MSG_NOSIGNAL), 14);
  EXPECT_EQ(a.get().reply.str, "a");
  EXPECT_EQ(b.get().reply.str, "b");
  ::close(conn);
  ::close(listener);
}

TEST(RedisClient, ACommandIsNeverHeldForABatchOfAnotherThreadThatWaitsForIt) {
  // A thread in a FlushBatch (which a command of its own joined) waits for the end of a chain
  // whose next step the client's thread issues (as a script's EVAL after NOSCRIPT): that step
  // must not wait for the first thread's batch, which only ends after the wait.
  RedisClient client(testing::RedisServer::shared().endpoint());
  ASSERT_EQ(client.run({"PING"}).str, "PONG");
  Waiter held, second;
  {
    FlushBatch batch;
    client.command({"ECHO", "held"}, held.callback());  // joins this thread's batch
    {
      RedisClient::WaitingCaller waiting;  // written at once, with "held"
      client.command({"ECHO", "first"}, [&](std::exception_ptr, RedisReply) {
        client.command({"ECHO", "second"}, second.callback());
      });
    }
    EXPECT_EQ(second.get(5s).reply.str, "second");
  }
  EXPECT_EQ(held.get().reply.str, "held");
}

}  // namespace
}  // namespace iii
