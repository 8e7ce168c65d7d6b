#include "workers/channels/channel_functions.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "core/channel_hub.h"
#include "core/json_text.h"
#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "wire/json_writer.h"

namespace iii {
namespace {

namespace json = boost::json;

// serde's wording for a value that is not a usize: a negative integer is a wrong value, anything
// else a wrong type.
[[noreturn]] void reject_buffer_size(const json::value& v) {
  throw std::invalid_argument((v.is_int64() ? "invalid value: " : "invalid type: ") + json_text::describe(v) +
                              ", expected usize");
}

size_t buffer_size_of(std::string_view data) {
  size_t first = data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return ChannelHub::kDefaultBufferSize;
  std::optional<json::value> parsed = json_text::parse(data);
  if (!parsed) throw std::invalid_argument("invalid JSON input");
  const json::value& v = *parsed;
  if (v.is_null()) return ChannelHub::kDefaultBufferSize;
  if (!v.is_object())
    throw std::invalid_argument("invalid type: " + json_text::describe(v) + ", expected struct CreateChannelInput");
  const json::value* size = v.get_object().if_contains("buffer_size");
  if (!size || size->is_null()) return ChannelHub::kDefaultBufferSize;
  if (size->is_uint64()) return static_cast<size_t>(std::min<uint64_t>(size->get_uint64(), ChannelHub::kMaxBufferSize));
  if (size->is_int64() && size->get_int64() >= 0) return static_cast<size_t>(std::min<int64_t>(size->get_int64(), ChannelHub::kMaxBufferSize));
  reject_buffer_size(*size);
}

}  // namespace

std::string create_channel_refs(ChannelHub& hub, std::string_view data) {
  const size_t buffer_size = buffer_size_of(data);
  std::shared_ptr<Channel> channel = hub.create(buffer_size);
  FrameWriter w(320);
  w.raw("writer", channel_ref_json(*channel, ChannelDirection::kWrite));
  w.raw("reader", channel_ref_json(*channel, ChannelDirection::kRead));
  return w.finish();
}

void add_channel_functions(Engine& engine, ChannelHub& hub) {
  std::shared_ptr<InProcessWorker> worker = engine.in_process_worker("iii-engine-functions");
  if (!worker) throw std::logic_error("add_channel_functions: the iii-engine-functions worker is not registered");
  worker->add_function(
      FunctionSpec{kChannelsCreateFunction,
                   "Create a streaming channel; returns a writer ref and a reader ref (same channel id and access "
                   "key). `buffer_size` items are buffered (default 64, at most 1024).",
                   R"({"type":"object","properties":{"buffer_size":{"type":["integer","null"],"minimum":0}}})",
                   {}, {}},
      SyncFunctionHandler([&hub](const InProcessCall& call) {
        try {
          return Outcome::success(create_channel_refs(hub, call.data));
        } catch (const std::invalid_argument& e) {
          return Outcome::failure("deserialization_error", std::string("Failed to deserialize input for ") +
                                                               kChannelsCreateFunction + ": " + e.what());
        }
      }));
  engine.add_ticker([&hub](Clock::time_point now) { hub.tick(now); });  // for the engine's lifetime
}

}  // namespace iii
