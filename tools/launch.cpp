#include "launch.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <cotangent/core/error.hpp>

namespace ct::cli {

namespace {

// The status of a rank that stopped on Ctrl-C (128 + SIGINT), as train exits then.
constexpr int kInterrupted = 130;

constexpr const char* kUsage =
    "usage: cotangent launch --nproc N [--master-port P] -- COMMAND [ARGS...]\n"
    "  Starts N ranks of COMMAND on this machine for data-parallel training (each gets RANK,\n"
    "  WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and MASTER_PORT); rank 0 prints and writes.\n"
    "  When a rank fails, the others are stopped and its exit status is returned.\n";

int whole(std::string_view flag, const char* text, int low, int high) {
  int value = 0;
  const char* end = text + std::strlen(text);
  auto [at, error] = std::from_chars(text, end, value);
  CT_CHECK_AS(ValueError, error == std::errc() && at == end && value >= low && value <= high,
              "launch: {} {}: not a whole number in [{}, {}]", flag, text, low, high);
  return value;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0;
  if (fd >= 0) ::close(fd);
  CT_CHECK_AS(IOError, ok, "launch: no free port on 127.0.0.1: {}", std::strerror(errno));
  return ntohs(a.sin_port);
}

volatile std::sig_atomic_t forwarded = 0;
void remember(int signal) { forwarded = signal; }

}  // namespace

int launch(int argc, char** argv) {
  int ranks = 0, port = 0, command = -1;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      command = i + 1;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    CT_CHECK_AS(ValueError, (arg == "--nproc" || arg == "--master-port") && i + 1 < argc,
                "launch: unexpected '{}'\n{}", arg, kUsage);
    if (arg == "--nproc")
      ranks = whole(arg, argv[++i], 1, 1024);
    else
      port = whole(arg, argv[++i], 1, 65535);
  }
  CT_CHECK_AS(ValueError, ranks >= 1, "launch: --nproc N is required\n{}", kUsage);
  CT_CHECK_AS(ValueError, command > 0 && command < argc, "launch: no command after --\n{}", kUsage);
  if (port == 0) port = free_port();

  std::vector<pid_t> pids;
  for (int r = 0; r < ranks; ++r) {
    pid_t pid = ::fork();
    CT_CHECK_AS(IOError, pid >= 0, "launch: fork: {}", std::strerror(errno));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(ranks).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execvp(argv[command], argv + command);
      std::fprintf(stderr, "cotangent launch: cannot run %s: %s\n", argv[command],
                   std::strerror(errno));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  // Ctrl-C reaches the ranks through the terminal; SIGTERM is passed on.
  std::signal(SIGTERM, remember);
  std::signal(SIGINT, SIG_IGN);
  int result = 0, left = ranks;
  std::vector<bool> done(std::size_t(ranks), false);
  bool stopping = false;
  auto deadline = std::chrono::steady_clock::time_point::max(), grace = deadline;
  while (left > 0) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < ranks; ++r)
        if (pids[std::size_t(r)] == pid && !done[std::size_t(r)]) {
          done[std::size_t(r)] = true, --left;
          int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          bool interrupted = WIFEXITED(status) && code == kInterrupted;  // not killed outright
          if (interrupted && result == 0) {
            // Interrupted ranks agree to stop after the same batch: the others are finishing
            // theirs (rank 0 its checkpoint), so they get time before a SIGTERM.
            result = code;
            grace = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          } else if (code != 0 && !interrupted && (result == 0 || result == kInterrupted)) {
            result = code;
            grace = std::chrono::steady_clock::now();
            std::fprintf(stderr,
                         "cotangent launch: rank %d exited with status %d; stopping the "
                         "others\n",
                         r, code);
          }
        }
      continue;
    }
    bool give_up = result != 0 && std::chrono::steady_clock::now() >= grace;
    if ((give_up || forwarded) && !stopping) {
      stopping = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (int r = 0; r < ranks; ++r)
        if (!done[std::size_t(r)]) ::kill(pids[std::size_t(r)], SIGTERM);
    }
    if (stopping && std::chrono::steady_clock::now() > deadline)
      for (int r = 0; r < ranks; ++r)
        if (!done[std::size_t(r)]) ::kill(pids[std::size_t(r)], SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result != 0 ? result : forwarded ? 128 + forwarded : 0;
}

}  // namespace ct::cli
