// A net::WsClient on its own io_context thread, plus everything its callbacks report; shared by
// the WsClient tests against the engine and against a raw test server.
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "wire/ws_client.h"
#include "test_workers.h"

namespace iii::test {

class ClientHarness {
 public:
  ClientHarness() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~ClientHarness() {
    if (client_) client_->close();
    work_.reset();
    wait_until([this] { return closed_.wait_for(0s) == std::future_status::ready; }, 3s);
    io_.stop();
    thread_.join();
  }

  std::shared_ptr<net::WsClient> make(net::WsClientOptions options) {
    client_ = net::WsClient::create(io_, options,
                                    {[this] { opened_.set_value(); },
                                     [this](std::string_view view) {
                                       std::string message(view);
                                       if (on_message) on_message(message);  // on the client's thread
                                       std::lock_guard lock(mutex_);
                                       messages_.push_back(std::move(message));
                                     },
                                     [this](std::string reason) { closed_promise_.set_value(std::move(reason)); }});
    return client_;
  }
  bool wait_open(std::chrono::milliseconds timeout) { return open_.wait_for(timeout) == std::future_status::ready; }
  std::optional<std::string> wait_closed(std::chrono::milliseconds timeout) {
    if (closed_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return closed_.get();
  }
  // Called for every message before it is recorded (set before make()).
  std::function<void(const std::string&)> on_message;

  std::vector<std::string> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::shared_ptr<net::WsClient> client_;
  std::promise<void> opened_;
  std::future<void> open_ = opened_.get_future();
  std::promise<std::string> closed_promise_;
  std::shared_future<std::string> closed_ = closed_promise_.get_future().share();
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

}  // namespace iii::test
