// The configuration::* functions (docs/builtins.md §7.2). Each decodes its input (bad input
// answers deserialization_error and changes nothing), runs the service operation, answers, and
// only then fans the change out to the `configuration` triggers.
#include <boost/json.hpp>

#include "core/json_text.h"
#include "workers/blocking_runner.h"
#include "workers/configuration/configuration_service.h"
#include "workers/configuration/configuration_worker.h"
#include "workers/function_input.h"

namespace iii {
namespace {

namespace json = boost::json;

using Reply = ConfigurationService::Reply;
using Body = std::function<Reply(ConfigurationService&, const FunctionInput&)>;

std::optional<json::value> optional_value(const FunctionInput& in, std::string_view key) {
  const json::value* v = in.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return *v;
}

Reply register_body(ConfigurationService& service, const FunctionInput& in) {
  ConfigurationService::Registration r;
  r.id = in.required_string("id");
  r.name = in.required_string("name");
  r.description = in.required_string("description");
  r.schema = in.required("schema");
  r.initial_value = optional_value(in, "initial_value");
  r.metadata = optional_value(in, "metadata");
  return service.register_entry(std::move(r));
}

Reply set_body(ConfigurationService& service, const FunctionInput& in) {
  return service.set(in.required_string("id"), in.required("value"));
}

Reply get_body(ConfigurationService& service, const FunctionInput& in) {
  bool raw = false;
  if (const json::value* r = in.find("raw"); r && !r->is_null()) {
    if (!r->is_bool()) throw InputError("field `raw`: invalid type: " + json_text::describe(*r) + ", expected a boolean");
    raw = r->get_bool();
  }
  return {service.get(in.required_string("id"), raw), {}};
}

Reply list_body(ConfigurationService& service, const FunctionInput&) { return {service.list(), {}}; }

Reply schema_body(ConfigurationService& service, const FunctionInput& in) {
  return {service.schema(in.required_string("id")), {}};
}

struct FunctionDef {
  const char* id;
  const char* description;
  Body body;
};

}  // namespace

void add_configuration_functions(InProcessWorker& worker, const std::shared_ptr<ConfigurationService>& service,
                                 std::shared_ptr<BlockingRunner> runner) {
  const FunctionDef defs[] = {
      {"configuration::register",
       "Register a configuration id with a name, description and JSON Schema. Idempotent: re-registering replaces the "
       "name, description, schema and metadata, and the value when initial_value is given (validated first).",
       register_body},
      {"configuration::set",
       "Replace the value of a registered configuration, validated against its JSON Schema; fires "
       "configuration:updated.",
       set_body},
      {"configuration::get",
       "Read a configuration by id, with ${VAR:default} placeholders expanded unless raw is true.", get_body},
      {"configuration::list",
       "List every registered configuration (id, name, description, schema), sorted by id, without values.",
       list_body},
      {"configuration::schema", "The name, description and JSON Schema of one configuration id.", schema_body},
  };
  for (const FunctionDef& def : defs) {
    worker.add_function(FunctionSpec{def.id, def.description, {}, {}, {}},
                        AsyncFunctionHandler([service, def, runner](const InProcessCall& call, Completion done) {
                          auto run = [service, def, call, done] {
                            Reply reply;
                            try {
                              reply = def.body(*service, FunctionInput(call.data));
                            } catch (const InputError& e) {
                              reply.outcome = Outcome::failure(codes::kDeserializationError,
                                                               "Failed to deserialize input for " +
                                                                   std::string(def.id) + ": " + e.what());
                            }
                            done(std::move(reply.outcome));
                            service->announce(std::move(reply.events), call.traceparent);
                          };
                          if (!runner) return run();
                          // A remote store: its round trip waits here, not on an event loop.
                          if (!runner->post(run))
                            done(Outcome::failure("configuration_busy", std::string("Failed to run ") + def.id +
                                                                            ": too many configuration calls are "
                                                                            "waiting for the remote store"));
                        }));
  }
}

}  // namespace iii
