// net::IoPool: where new connections are placed, and the one-pool-per-process rule.
#include "net/io_pool.h"

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
  }
  EXPECT_EQ(&connection_context(unused), &unused);  // uninstalled with the pool
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
