// iii-exec's child processes, for real: each command in a process group of its own, stopped as a
// whole (SIGTERM, then SIGKILL for a child that ignores it), reaped, without the engine's
// descriptors; and one pipeline run by ExecRunner end to end.
#include "workers/exec/exec_runner.h"
#include "workers/exec/process_group.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "eventually.h"
#include "temp_dir.h"

namespace iii {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::TempDir;


std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool alive(pid_t pid) { return kill(pid, 0) == 0; }
// Alive and not a zombie (an orphan's zombie stays under an init that does not reap).
bool running(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    r = p[0];
    w = p[1];
  }
  ~Pipe() {
    close(r);
    if (w >= 0) close(w);
  }
  std::string read_all() {
    close(w);
    w = -1;
    std::string out;
    char buf[512];
    for (ssize_t n; (n = read(r, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
};

void no_wait(std::chrono::milliseconds ms) { std::this_thread::sleep_for(ms); }

TEST(ExecProcessTest, StopsTheWholeGroupAndReapsIt) {
  TempDir dir;
  Pipe out;
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = spawn_command("sleep 300 & echo $! > bg.pid; sleep 300 & wait", dir.path(), {null, out.w, out.w});
  EXPECT_EQ(getpgid(pid), pid);   // its own group
  EXPECT_EQ(getsid(pid), pid);    // and session
  ASSERT_TRUE(eventually([&] { return !read_file(dir.path() / "bg.pid").empty(); }));
  const pid_t background = std::stoi(read_file(dir.path() / "bg.pid"));
  EXPECT_EQ(getpgid(background), pid);

  std::vector<ProcessGroup> groups{{pid}};
  const StopResult r = stop_groups(groups, 3000ms, no_wait);
  EXPECT_EQ(r.killed, 0u);  // sleep and sh die of SIGTERM
  EXPECT_TRUE(groups.empty());
  EXPECT_FALSE(alive(pid));  // reaped, not a zombie
  EXPECT_FALSE(running(background));
  close(null);
}

TEST(ExecProcessTest, SigkillAfterTheGraceForAChildThatIgnoresSigterm) {
  TempDir dir;
  Pipe out;
  const pid_t pid = spawn_command("trap '' TERM; echo ready; while :; do sleep 0.05; done", dir.path(), {0, out.w, out.w});
  char c;
  ASSERT_EQ(read(out.r, &c, 1), 1);  // the trap is set
  std::vector<ProcessGroup> groups{{pid}};
  const auto started = std::chrono::steady_clock::now();
  const StopResult r = stop_groups(groups, 300ms, no_wait);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
  EXPECT_EQ(r.killed, 1u);
  EXPECT_TRUE(r.stuck.empty());
  EXPECT_FALSE(alive(pid));
}

TEST(ExecProcessTest, ChildGetsOnlyItsStdio) {
  TempDir dir;
  Pipe out;
  const int leaked = open("/dev/null", O_RDONLY);  // not close-on-exec, as Asio's sockets are not
  ASSERT_GT(leaked, 2);
  // Every descriptor from 3 up to past `leaked` must be closed in the shell (a glob would open one).
  const std::string command = "for f in $(seq 3 " + std::to_string(leaked + 2) +
                              "); do [ -e /proc/$$/fd/$f ] && echo \"fd $f is open\"; done; echo end";
  const pid_t pid = spawn_command(command, dir.path(), {0, out.w, out.w});
  std::vector<ProcessGroup> groups{{pid}};
  ASSERT_TRUE(eventually([&] { return reap_leader(groups[0]); }));
  EXPECT_EQ(describe_wait_status(groups[0].leader_status), "exit status 0");
  EXPECT_EQ(out.read_all(), "end\n");
  close(leaked);
}

TEST(ExecProcessTest, StartFailuresAndStatuses) {
  EXPECT_THROW(
      {
        try {
          spawn_command("true", "/surely/not/here", {0, 1, 2});
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("could not enter its directory"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
  TempDir dir;
  std::vector<ProcessGroup> groups{{spawn_command("kill -SEGV $$", dir.path(), {0, 1, 2})}};
  ASSERT_TRUE(eventually([&] { return reap_leader(groups[0]); }));
  EXPECT_EQ(describe_wait_status(groups[0].leader_status).substr(0, 17), "killed by SIGSEGV");
}

ExecConfig pipeline_in(const TempDir& dir, std::vector<std::string> commands) {
  ExecConfig config;
  config.cwd = dir.path();
  config.commands = std::move(commands);
  return config;
}

TEST(ExecRunnerTest, RunsThePipelineAndStopsTheLastCommand) {
  TempDir dir;
  ExecRunner runner(pipeline_in(dir, {"echo one > first.txt", "echo $$ > last.pid; exec sleep 300"}));
  runner.start();
  ASSERT_TRUE(eventually([&] { return read_file(dir.path() / "last.pid").size() > 1; }));
  EXPECT_EQ(read_file(dir.path() / "first.txt"), "one\n");
  const pid_t last = std::stoi(read_file(dir.path() / "last.pid"));
  EXPECT_TRUE(alive(last));
  runner.stop();
  EXPECT_FALSE(alive(last));
}

TEST(ExecRunnerTest, AFailingStepStopsThePipelineAndIsRetried) {
  TempDir dir;
  ExecConfig config = pipeline_in(dir, {"echo x >> tries; exit 3", "echo never > last.txt; exec sleep 300"});
  config.restart_delay = 50ms;
  config.restart_max_delay = 100ms;
  ExecRunner runner(config);
  runner.start();
  ASSERT_TRUE(eventually([&] { return read_file(dir.path() / "tries").size() >= 6; }));  // three tries
  runner.stop();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "last.txt"));
}

}  // namespace
}  // namespace iii
