#include "config/listener_set.h"

#include <spdlog/spdlog.h>

namespace iii::config {
ListenerSet::ListenerSet(boost::asio::io_context& io, Engine& engine, ChannelHub* channels)
    : io_(io), engine_(engine), channels_(channels) {}

ListenerSet::~ListenerSet() = default;

std::vector<std::string> ListenerSet::reconcile(const std::vector<ListenerOptions>& wanted) {
  std::vector<Running> next;
  std::vector<const ListenerOptions*> to_open;
  std::vector<bool> kept(running_.size(), false);
  for (const ListenerOptions& w : wanted) {
    bool reused = false;
    for (size_t i = 0; i < running_.size() && !reused; ++i) {
      if (kept[i] || running_[i].options != w) continue;
      kept[i] = true;
      next.push_back(std::move(running_[i]));
      reused = true;
    }
    if (!reused) to_open.push_back(&w);
  }
  // Close what is no longer wanted first, so a changed listener can bind its port again.
  for (size_t i = 0; i < running_.size(); ++i) {
    if (kept[i]) continue;
    spdlog::info("closing the worker listener on {}:{} (connected workers stay)", running_[i].options.host,
                 running_[i].options.port);
    running_[i].listener.reset();
  }
  std::vector<std::string> failures;
  for (const ListenerOptions* w : to_open) {
    auto listener = std::make_unique<WorkerListener>(io_, engine_, *w, channels_);
    try {
      listener->start();
    } catch (const std::exception& e) {
      failures.push_back(w->host + ":" + std::to_string(w->port) + ": " + e.what());
      spdlog::error("cannot listen for workers on {}:{}: {}", w->host, w->port, e.what());
      continue;
    }
    spdlog::info("iii engine {} listening for workers on ws://{}:{}", III_VERSION, w->host, listener->port());
    next.push_back(Running{*w, std::move(listener)});
  }
  running_ = std::move(next);
  return failures;
}

}  // namespace iii::config
