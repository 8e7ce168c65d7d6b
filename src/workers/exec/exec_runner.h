// The pipeline of one iii-exec block (docs/builtins.md §11.3–§11.5), run by a thread of its own
// so that nothing here ever blocks the engine's I/O threads:
//
//   - the commands start one after the other, each `/bin/sh -c` in its own process group; a
//     step must exit 0 before the next starts, and the last one is kept running;
//   - when a step fails, or the last command exits (for any reason), the groups of that run are
//     stopped and the pipeline starts again after a delay that doubles up to a bound
//     (RestartBackoff), reset once a run lasted `restart_reset_ms`;
//   - a change of a watched file (ExecFileWatcher, debounced) stops the run and starts it again
//     at once;
//   - the children's stdout and stderr come through two pipes owned by the runner, cut into lines
//     (OutputLines) and logged as `[name] line`;
//   - stop() stops every group (SIGTERM, `stop_grace_ms`, SIGKILL), reaps them and ends the thread.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "workers/exec/exec_config.h"
#include "workers/exec/exec_file_watcher.h"
#include "workers/exec/output_lines.h"
#include "workers/exec/process_group.h"
#include "workers/exec/restart_backoff.h"

namespace iii {

class ExecRunner {
 public:
  // The longest output line logged as it is; longer ones are cut (OutputLines).
  static constexpr size_t kMaxLineBytes = 16 * 1024;
  // Changes closer together than this restart the pipeline once.
  static constexpr std::chrono::milliseconds kWatchDebounce{200};

  explicit ExecRunner(ExecConfig config);
  ~ExecRunner();
  ExecRunner(const ExecRunner&) = delete;
  ExecRunner& operator=(const ExecRunner&) = delete;

  // Opens the pipes and the watches, then starts the thread, which starts the pipeline. Throws
  // std::runtime_error when they cannot be opened. Called at most once.
  void start();
  // Stops every process of the pipeline and the thread; returns when they are gone (about
  // `stop_grace_ms` at most, plus 2 s for a SIGKILL). Idempotent.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;

  void run();
  void start_step(size_t step);
  void on_step_exit(int status);
  void schedule_restart(bool ran_long);
  void restart_for_change(const std::string& what);
  // Stops every group of the current run (SIGTERM, grace, SIGKILL).
  void stop_run();
  void prune_finished_groups();
  // Reads what the children wrote, without blocking; at most a few buffers per stream per call.
  void drain_output();
  void wait_for_output(std::chrono::milliseconds ms);
  std::string relative(const std::string& path) const;

  const ExecConfig config_;
  const std::string tag_;  // "iii-exec [name]" in the engine's own lines
  RestartBackoff backoff_;
  OutputLines out_lines_{kMaxLineBytes}, err_lines_{kMaxLineBytes};
  std::unique_ptr<ExecFileWatcher> watcher_;
  int out_read_ = -1, out_write_ = -1, err_read_ = -1, err_write_ = -1, null_ = -1, wake_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  // The runner thread's own state.
  std::vector<ProcessGroup> groups_;  // of the current run: the running step's and finished steps' leftovers
  std::optional<pid_t> running_;      // the step being waited for (its group id)
  size_t step_ = 0;
  Clock::time_point step_started_{};
  std::optional<Clock::time_point> restart_at_;
  std::optional<Clock::time_point> change_due_;
  std::string change_;  // the first changed file of the pending restart
  unsigned restarts_ = 0;
};

}  // namespace iii
