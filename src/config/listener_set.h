// The engine's worker listeners, one per `iii-worker-manager` entry, kept in step with the config:
// on reload, listeners whose options did not change stay open; removed or changed ones close
// (their connected workers stay connected: sessions do not depend on the acceptor) and new ones
// open. A listener that cannot bind is reported and the others keep running.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "net/worker_listener.h"
#include "wire/asio_fwd.h"

namespace iii {
class Engine;
class ChannelHub;
}  // namespace iii

namespace iii::config {

class ListenerSet {
 public:
  ListenerSet(boost::asio::io_context& io, Engine& engine, ChannelHub* channels);
  ~ListenerSet();

  // Makes the open listeners match `wanted`. Returns the addresses that could not be bound
  // ("host:port: reason"); empty when every wanted listener is open.
  std::vector<std::string> reconcile(const std::vector<ListenerOptions>& wanted);

  size_t size() const { return running_.size(); }

 private:
  struct Running {
    ListenerOptions options;
    std::unique_ptr<WorkerListener> listener;
  };
  boost::asio::io_context& io_;
  Engine& engine_;
  ChannelHub* channels_;
  std::vector<Running> running_;
};

}  // namespace iii::config
