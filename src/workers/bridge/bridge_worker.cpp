#include "workers/bridge/bridge_worker.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <cstdlib>

#include "workers/bridge/remote_engine.h"
#include "workers/function_input.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr ConfigReader reader{kBridgeWorkerName};

// One entry of `expose` or `forward`: a mapping with only `known` keys, read through its path
// ("forward[2]") so that errors name the entry.
class Entry {
 public:
  Entry(const json::value& e, std::string at, std::initializer_list<std::string_view> known, std::string_view shape)
      : at_(std::move(at)) {
    if (!e.is_object()) reader.fail(at_, "must be a mapping " + std::string(shape));
    require_known_keys(e, kBridgeWorkerName, known);
    o_ = &e.get_object();
  }
  // A non-empty function id; absent: `fallback`, or an error when there is none.
  std::string function_id(std::string_view key, const std::string* fallback = nullptr) const {
    const std::string path = at_ + "." + std::string(key);
    const json::value* v = reader.field(*o_, key);
    if (!v) {
      if (!fallback) reader.fail(path, "is required");
      return *fallback;
    }
    std::string id = reader.string(*v, path);
    if (id.empty()) reader.fail(path, "must not be empty");
    return id;
  }
  const json::value* field(std::string_view key) const { return reader.field(*o_, key); }
  std::string path(std::string_view key) const { return at_ + "." + std::string(key); }

 private:
  std::string at_;
  const json::object* o_ = nullptr;
};

// Reads the list `key` of `config` entry by entry.
template <class Read>
void each_entry(const json::value& list, const std::string& key, std::string_view shape, Read read) {
  if (!list.is_array()) reader.fail(key, "must be a list of " + std::string(shape));
  for (size_t i = 0; i < list.get_array().size(); ++i) read(list.get_array()[i], key + "[" + std::to_string(i) + "]");
}

std::vector<BridgeConfig::Expose> read_expose(const json::value& list) {
  constexpr std::string_view kShape = "{local_function, remote_function?}";
  std::vector<BridgeConfig::Expose> out;
  each_entry(list, "expose", kShape, [&](const json::value& e, std::string at) {
    const Entry entry(e, std::move(at), {"local_function", "remote_function"}, kShape);
    const std::string local = entry.function_id("local_function");
    out.push_back(BridgeConfig::Expose{local, entry.function_id("remote_function", &local)});
  });
  return out;
}

std::vector<BridgeConfig::Forward> read_forward(const json::value& list) {
  constexpr std::string_view kShape = "{local_function, remote_function, timeout_ms?}";
  std::vector<BridgeConfig::Forward> out;
  each_entry(list, "forward", kShape, [&](const json::value& e, std::string at) {
    const Entry entry(e, std::move(at), {"local_function", "remote_function", "timeout_ms"}, kShape);
    BridgeConfig::Forward f{entry.function_id("local_function"), entry.function_id("remote_function")};
    if (const json::value* t = entry.field("timeout_ms"))
      f.timeout = std::chrono::milliseconds(reader.integer(*t, entry.path("timeout_ms"), 1, 3'600'000));
    for (const auto& earlier : out)
      if (earlier.local_function == f.local_function)
        reader.fail(entry.path("local_function"), "`" + f.local_function + "` is forwarded twice");
    out.push_back(std::move(f));
  });
  return out;
}

// bridge.invoke / bridge.invoke_async input: {"function_id", "data"?, "timeout_ms"?}.
struct InvokeInput {
  std::string function_id;
  std::string data;
  std::chrono::milliseconds timeout;
};

InvokeInput read_invoke(const InProcessCall& call) {
  FunctionInput in(call.data);
  InvokeInput out{in.required_string("function_id"), "null", kBridgeCallTimeout};
  if (const json::value* d = in.find("data")) out.data = json::serialize(*d);
  if (const json::value* t = in.find("timeout_ms")) {
    const double ms = t->is_number() ? t->to_number<double>() : 0;
    if (!(ms >= 1 && ms <= 3'600'000)) throw InputError("`timeout_ms` must be a number of milliseconds from 1 to 3600000");
    out.timeout = std::chrono::milliseconds(static_cast<long long>(ms));
  }
  return out;
}

class BridgeWorker : public BuiltinWorker {
 public:
  BridgeWorker(Engine& engine, BridgeConfig config)
      : engine_(engine),
        config_(std::move(config)),
        remote_(std::make_shared<RemoteEngine>(config_.url, kBridgeWorkerName)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kBridgeWorkerName)) {
    std::weak_ptr<RemoteEngine> weak = remote_;
    endpoint_->add_function(FunctionSpec{"bridge.invoke", "Invoke a function on the remote iii engine", {}, {}, {}},
                            AsyncFunctionHandler([weak](const InProcessCall& call, Completion done) {
                              invoke(weak, call, false, std::move(done));
                            }));
    endpoint_->add_function(
        FunctionSpec{"bridge.invoke_async", "Fire-and-forget invoke on the remote iii engine", {}, {}, {}},
        AsyncFunctionHandler(
            [weak](const InProcessCall& call, Completion done) { invoke(weak, call, true, std::move(done)); }));
    for (const BridgeConfig::Forward& f : config_.forward) {
      endpoint_->add_function(
          FunctionSpec{f.local_function, "Forward to remote function " + f.remote_function, {}, {}, {}},
          AsyncFunctionHandler([weak, f](const InProcessCall& call, Completion done) {
            auto remote = weak.lock();
            if (!remote) return done(Outcome::failure(kBridgeError, "iii-bridge is shutting down"));
            remote->call(f.remote_function, call.data, f.timeout, std::move(done));
          }));
    }
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    for (const BridgeConfig::Expose& e : config_.expose) remote_->expose(e.remote_function, e.local_function, engine_);
    spdlog::info("iii-bridge: connecting to {} ({} exposed, {} forwarded)", config_.url, config_.expose.size(),
                 config_.forward.size());
  }

  void stop() override { remote_->shutdown(); }

 private:
  static void invoke(const std::weak_ptr<RemoteEngine>& weak, const InProcessCall& call, bool fire_and_forget,
                     Completion done) {
    InvokeInput in;
    try {
      in = read_invoke(call);
    } catch (const InputError& e) {
      return done(Outcome::failure(codes::kDeserializationError, std::string("Failed to parse invoke input: ") + e.what()));
    }
    auto remote = weak.lock();
    if (!remote) return done(Outcome::failure(kBridgeError, "iii-bridge is shutting down"));
    if (fire_and_forget) {
      return remote->call_void(in.function_id, in.data, [done = std::move(done)](Outcome o) {
        done(o.ok() ? Outcome::success("null") : std::move(o));
      });
    }
    remote->call(in.function_id, in.data, in.timeout, std::move(done));
  }

  Engine& engine_;
  const BridgeConfig config_;
  const std::shared_ptr<RemoteEngine> remote_;
  const std::shared_ptr<InProcessWorker> endpoint_;
};

}  // namespace

BridgeConfig parse_bridge_config(const json::value& config) {
  require_known_keys(config, kBridgeWorkerName, {"url", "expose", "forward"});
  BridgeConfig out;
  const json::value* url = config.is_object() ? reader.field(config.get_object(), "url") : nullptr;
  if (url) {
    out.url = reader.ws_url(*url, "url");
  } else if (const char* env = std::getenv("III_URL"); env && *env) {
    if (!is_ws_url(env))
      reader.fail("url", "is not given, and the environment's III_URL `" + std::string(env) + "` is not a ws:// or wss:// URL");
    out.url = env;
  } else {
    out.url = kDefaultBridgeUrl;
  }
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  if (const json::value* v = reader.field(o, "expose")) out.expose = read_expose(*v);
  if (const json::value* v = reader.field(o, "forward")) out.forward = read_forward(*v);
  return out;
}

BuiltinDescriptor bridge_builtin() {
  return BuiltinDescriptor{kBridgeWorkerName,
                           {},
                           [](BuiltinContext& context, const json::value& config) -> std::unique_ptr<BuiltinWorker> {
                             return std::make_unique<BridgeWorker>(context.engine, parse_bridge_config(config));
                           }};
}

}  // namespace iii
