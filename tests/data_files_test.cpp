// Atomic writes on hostile ground: permissions, writers killed mid-write, directories that
// cannot be written.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;
namespace fs = std::filesystem;

namespace {

unsigned permissions(const fs::path& p) {
  struct stat s;
  return ::stat(p.c_str(), &s) == 0 ? unsigned(s.st_mode & 0777) : ~0u;
}

/// The pid of a process that has exited (and been reaped): no process has it now.
pid_t dead_pid() {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

void touch(const fs::path& p) { std::ofstream(p) << "partial"; }

std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

/// Runs `body` as an unprivileged user when this process is root (whom permissions do not
/// stop); true when it returned normally.
bool runs_unprivileged(const std::function<void()>& body) {
  if (geteuid() != 0) {
    body();
    return true;
  }
  return succeeds_in_child([] { return setgid(65534) == 0 && setuid(65534) == 0; }, body);
}

}  // namespace

TEST(DataFiles, AtomicWritesGetTheUmasksPermissions) {
  auto dir = scratch_directory("files-umask");
  std::string text = "metrics";
  mode_t saved = umask(022);
  data::write_file_atomically(dir / "shared.csv", text.data(), text.size());
  umask(077);
  data::write_file_atomically(dir / "private.csv", text.data(), text.size());
  umask(saved);
  EXPECT_EQ(permissions(dir / "shared.csv"), 0644u);
  EXPECT_EQ(permissions(dir / "private.csv"), 0600u);
  // Replacing a file keeps the permissions it was given.
  fs::permissions(dir / "shared.csv", fs::perms(0640));
  data::write_file_atomically(dir / "shared.csv", text.data(), text.size());
  EXPECT_EQ(permissions(dir / "shared.csv"), 0640u);
  fs::remove_all(dir);
}

TEST(DataFiles, TemporariesOfDeadWritersAreSwept) {
  auto dir = scratch_directory("files-sweep");
  std::string dead = std::to_string(dead_pid()), alive = std::to_string(getpid());
  // Dead writers' temporaries are swept once they are an hour old: a recent one may belong to
  // a writer in another container or on another machine sharing the folder.
  auto age = [](const fs::path& p) {
    fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::hours(2));
  };
  touch(dir / (".model.safetensors.tmp." + dead + ".0badc0de"));
  touch(dir / (".model.safetensors.tmp." + alive + ".12345678"));  // a live writer's
  touch(dir / ".model.safetensors.tmp-AbC123");                    // not of this naming
  touch(dir / ("notes.tmp." + dead + ".ab"));                      // nor this
  touch(dir / ".x.tmp.0.ab");  // pid 0 would mean the process group: never a writer
  for (auto& name : names(dir)) age(dir / name);
  touch(dir / (".recent.tmp." + dead + ".0badc0de"));  // dead but recent
  EXPECT_EQ(data::sweep_stale_temporaries(dir), 1u);
  EXPECT_EQ(names(dir),
            (std::vector<std::string>{
                ".model.safetensors.tmp-AbC123", ".model.safetensors.tmp." + alive + ".12345678",
                ".recent.tmp." + dead + ".0badc0de", ".x.tmp.0.ab", "notes.tmp." + dead + ".ab"}));
  expect_error<IOError>([&] { data::sweep_stale_temporaries(dir / "absent"); },
                        {(dir / "absent").string()});

  // Writers killed mid-write leave their temporaries; the next process's first write there
  // sweeps them.
  auto run = dir / "run";
  fs::create_directories(run);
  std::vector<char> big(8 << 20, 'x');
  for (int i = 0; i < 5; ++i) {
    pid_t writer = fork();
    if (writer == 0) {
      try {
        for (;;) data::write_file_atomically(run / "checkpoint", big.data(), big.size());
      } catch (...) {
      }
      _exit(1);  // never back into the test runner
    }
    usleep(20000);
    kill(writer, SIGKILL);
    waitpid(writer, nullptr, 0);
  }
  for (int i = 0; i < 5; ++i)  // and a kill in mid-write, to be sure of one
    touch(run / (".checkpoint.tmp." + std::to_string(dead_pid()) + ".00000001"));
  EXPECT_GT(names(run).size(), 1u);
  for (auto& name : names(run)) age(run / name);
  std::string text = "done";
  data::write_file_atomically(run / "summary.json", text.data(), text.size());
  for (auto& name : names(run))  // the killed writers may or may not have finished one
    EXPECT_TRUE(name == "checkpoint" || name == "summary.json") << name;
  fs::remove_all(dir);
}

TEST(DataFiles, WriteErrorsNameThePathAndTheReason) {
  auto dir = scratch_directory("files-errors");
  touch(dir / "file");
  std::string text = "x";
  auto under_file = dir / "file" / "run";
  expect_error<IOError>(
      [&] { data::write_file_atomically(under_file / "c.safetensors", text.data(), 1); },
      {(under_file / "c.safetensors").string(), "Not a directory"});
  expect_error<IOError>([&] { data::check_writable_directory(under_file); },
                        {under_file.string(), "Not a directory"});
  expect_error<IOError>([&] { data::check_writable_directory(dir / "file"); },
                        {(dir / "file").string(), "not a directory"});

  // A missing directory is created, and the probe leaves nothing behind.
  data::check_writable_directory(dir / "new" / "run");
  EXPECT_TRUE(fs::is_directory(dir / "new" / "run"));
  EXPECT_TRUE(fs::is_empty(dir / "new" / "run"));

  // A read-only directory.
  auto locked = dir / "locked";
  fs::create_directories(locked);
  fs::permissions(locked, fs::perms(0555));
  EXPECT_TRUE(runs_unprivileged([&] {
    bool named = false;
    try {
      data::check_writable_directory(locked);
    } catch (const IOError& e) {
      std::string m = e.what();
      named = m.find(locked.string()) != std::string::npos &&
              m.find("Permission denied") != std::string::npos;
    }
    if (!named) throw std::runtime_error("check_writable_directory");
    named = false;
    try {
      data::write_file_atomically(locked / "metrics.csv", text.data(), 1);
    } catch (const IOError& e) {
      std::string m = e.what();
      named = m.find((locked / "metrics.csv").string()) != std::string::npos &&
              m.find("Permission denied") != std::string::npos;
    }
    if (!named) throw std::runtime_error("write_file_atomically");
  }));
  fs::permissions(locked, fs::perms(0755));
  fs::remove_all(dir);
}
