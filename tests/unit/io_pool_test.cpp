// net::IoPool: where new connections are placed, the one-pool-per-process rule, and the write
// batch that lasts for the rest of a loop turn.
#include "net/io_pool.h"

#include "wire/flush_batch.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <set>
#include <thread>

namespace {

using iii::net::connection_context;
using iii::net::IoPool;

TEST(IoPool, WithoutAPoolConnectionsStayOnTheGivenLoop) {
  boost::asio::io_context fallback;
  EXPECT_EQ(&connection_context(fallback), &fallback);
}

TEST(IoPool, SpreadsConnectionsRoundRobinOverItsLoopsNeverMain) {
  boost::asio::io_context main_loop, unused;
  {
    IoPool pool(3);
    std::set<boost::asio::io_context*> seen;
    for (int i = 0; i < 6; ++i) seen.insert(&connection_context(unused));
    EXPECT_EQ(seen.size(), 3u);
    EXPECT_FALSE(seen.count(&main_loop));  // reloads and timers there never hold up a connection
    EXPECT_FALSE(seen.count(&unused));
    const auto loops = iii::net::connection_loops();  // the same loops, for clients with a lane each
    EXPECT_EQ(std::set<boost::asio::io_context*>(loops.begin(), loops.end()), seen);
  }
  EXPECT_EQ(&connection_context(unused), &unused);  // uninstalled with the pool
  EXPECT_TRUE(iii::net::connection_loops().empty());
}

TEST(IoPool, OnlyOnePoolAtATime) {
  IoPool pool(2);
  EXPECT_THROW(IoPool(2), std::logic_error);
  EXPECT_THROW(IoPool(0), std::invalid_argument);
}

TEST(IoPool, EachLoopRunsOnAThreadOfItsOwnUntilStopped) {
  boost::asio::io_context main_loop;
  IoPool pool(2);
  pool.start();
  std::set<std::thread::id> threads;
  for (int i = 0; i < 2; ++i) {
    boost::asio::io_context& loop = connection_context(main_loop);
    std::promise<std::thread::id> ran;
    boost::asio::post(loop, [&] { ran.set_value(std::this_thread::get_id()); });
    auto done = ran.get_future();
    ASSERT_EQ(done.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    threads.insert(done.get());
  }
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  pool.stop();  // joins; a second stop (the destructor's) is harmless
}

// At exit a handler queued on one loop may hold a socket bound to another: shutting every loop
// down first destroys such handlers while all loops exist, whatever the order of destruction.
TEST(IoPool, ShutdownAllDestroysQueuedHandlersWhileEveryLoopExists) {
  auto pool = std::make_unique<IoPool>(1);
  iii::net::EventLoop main_loop;
  boost::asio::io_context& loop = connection_context(main_loop);
  auto socket = std::make_shared<boost::asio::ip::tcp::socket>(loop);  // bound to the pool's loop
  std::weak_ptr<boost::asio::ip::tcp::socket> watch = socket;
  boost::asio::post(main_loop, [socket] {});  // queued on main, never run
  socket.reset();
  ASSERT_FALSE(watch.expired());
  pool->shutdown_all(main_loop);
  EXPECT_TRUE(watch.expired());  // destroyed by main's shutdown, the pool's loop still alive
  pool.reset();
}

}  // namespace

// What a handler sends after batch_rest_of_turn() waits in a FlushBatch that stays open for the
// handlers already queued on that loop and is flushed once by a handler queued behind them.
struct RecordingSender : iii::BatchedSender {
  std::atomic<int> flushes{0};
  void flush_batch() override { ++flushes; }
};

TEST(IoPool, BatchRestOfTurnSpansTheHandlersQueuedNowAndFlushesOnce) {
  boost::asio::io_context main_loop;
  IoPool pool(1);
  pool.start();
  boost::asio::io_context& loop = connection_context(main_loop);
  auto sender = std::make_shared<RecordingSender>();
  // Hold the loop until A and B are both queued: gate, A, B.
  std::promise<void> open_gate;
  auto gate = open_gate.get_future().share();
  boost::asio::post(loop, [gate] { gate.wait(); });
  iii::FlushBatch* opened = nullptr;
  bool nested_call_kept_it = false;
  boost::asio::post(loop, [&] {  // A
    ASSERT_EQ(iii::FlushBatch::current(), nullptr);
    iii::net::batch_rest_of_turn();  // queues the closing handler behind B
    opened = iii::FlushBatch::current();
    ASSERT_NE(opened, nullptr);
    opened->join(sender);
    iii::net::batch_rest_of_turn();  // already open: nothing new
    nested_call_kept_it = iii::FlushBatch::current() == opened;
  });
  std::promise<std::pair<bool, int>> seen_by_b;
  boost::asio::post(loop, [&] {  // B: queued before the batch was opened, so inside it
    seen_by_b.set_value({iii::FlushBatch::current() == opened && opened != nullptr, sender->flushes.load()});
  });
  open_gate.set_value();
  auto b = seen_by_b.get_future();
  ASSERT_EQ(b.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto [b_in_batch, flushes_before_close] = b.get();
  EXPECT_TRUE(b_in_batch);
  EXPECT_EQ(flushes_before_close, 0);
  EXPECT_TRUE(nested_call_kept_it);
  std::promise<std::pair<bool, int>> after;  // queued behind the closing handler
  boost::asio::post(loop, [&] { after.set_value({iii::FlushBatch::current() == nullptr, sender->flushes.load()}); });
  auto [closed, flushes] = after.get_future().get();
  EXPECT_TRUE(closed);
  EXPECT_EQ(flushes, 1);
}

TEST(IoPool, BatchRestOfTurnDoesNothingOffThePoolsThreads) {
  iii::net::batch_rest_of_turn();
  EXPECT_EQ(iii::FlushBatch::current(), nullptr);
}
