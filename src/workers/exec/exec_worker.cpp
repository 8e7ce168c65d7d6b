#include "workers/exec/exec_worker.h"

#include <system_error>

#include "workers/exec/exec_config.h"
#include "workers/exec/exec_runner.h"

namespace iii {
namespace {

class ExecWorker final : public BuiltinWorker {
 public:
  ExecWorker(Engine& engine, ExecConfig config)
      : endpoint_(std::make_shared<InProcessWorker>(engine, kExecWorkerName)),
        cwd_(config.cwd),
        runner_(std::move(config)) {}

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    // A missing directory is a config mistake worth refusing at once rather than a failure
    // retried forever (the supervisor reports it and runs on without this block).
    std::error_code ec;
    if (!std::filesystem::is_directory(cwd_, ec)) throw std::runtime_error("`cwd` " + cwd_.string() + " is not a directory");
    runner_.start();
  }
  // Blocks until the processes are gone: at most stop_grace_ms plus 2 s.
  void stop() override { runner_.stop(); }
  // reconfigure(): not overridden. A changed block is a new pipeline: the supervisor stops this
  // one and starts the new one.

 private:
  std::shared_ptr<InProcessWorker> endpoint_;
  std::filesystem::path cwd_;
  ExecRunner runner_;
};

}  // namespace

BuiltinDescriptor exec_builtin() {
  BuiltinDescriptor d{kExecWorkerName, {},
                      [](BuiltinContext& context, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
                        return std::make_unique<ExecWorker>(
                            context.engine, parse_exec_config(config, context.working_dir, context.instance_id));
                      }};
  d.after_listeners = true;  // its processes connect as workers: the listener must be open
  return d;
}

}  // namespace iii
