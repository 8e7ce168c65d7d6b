// The upstream of the nginx peer in bench_http's rows (issue 14): the direct-answer server of
// bench/floor_server.h (one epoll thread, keep-alive, 200 with {"ok":true} to every request, the
// body our HTTP trigger answers) on a given loopback port, until killed. run.sh starts it and
// nginx in front of it, so the peer has the trigger's shape: client -> proxy -> another process.
//
//   bench_upstream --port P
#include <csignal>
#include <iostream>

#include "common.h"
#include "floor_server.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  bench::FloorServer server;
  const int port = server.start(static_cast<int>(args.num("port", 0)));
  if (port < 0) {
    std::cerr << "bench_upstream: cannot listen on port " << args.str("port") << "\n";
    return 1;
  }
  std::cerr << "bench_upstream: listening on 127.0.0.1:" << port << "\n";
  pause();  // the server's thread answers; run.sh ends this process with a signal
}
