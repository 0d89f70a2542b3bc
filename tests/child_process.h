// Starting the evosearch program (or any command) in the background for tests that kill, stop
// or race processes: its own process group, output to a log file.
#pragma once

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace evosearch::testing_support {

// Runs `command` with /bin/sh in a new process group, stdout and stderr into `log`.
inline pid_t start_logged(const std::string& command, const std::string& log) {
  // Built before fork: the child of a multi-threaded test (proxies, monitors) may call only
  // async-signal-safe functions until exec, and allocating is not one (another thread may have
  // held the allocator's lock at the fork).
  const std::string shell = "exec " + command;
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `pid`; its exit code (128 + signal when killed), or -1 after
// killing its process group when it did not end in time. `took`: seconds until it ended.
inline int wait_exit(pid_t pid, double seconds, double* took = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (took) *took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Where `pid` is, for a test that gave up waiting on it: per thread its state, the kernel function
// it sleeps in (wchan) and the system call it is in (/proc/PID/task/TID/syscall: number and
// arguments; "running" when none), so a hang names its cause in the failure message.
inline std::string where_blocked(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  auto first_line = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  };
  std::string out = "process " + std::to_string(pid) + " (" + first_line(proc + "/comm") + "):";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(proc + "/task", ec)) {
    const std::string t = task.path().string();
    const std::string stat = first_line(t + "/stat");
    const size_t close = stat.rfind(')');
    const std::string state = close == std::string::npos || close + 2 >= stat.size() ? "?" : stat.substr(close + 2, 1);
    out += "\n  thread " + task.path().filename().string() + " state " + state + ", wchan " + first_line(t + "/wchan") +
           ", syscall " + first_line(t + "/syscall");
  }
  if (ec) out += " gone (" + ec.message() + ")";
  return out;
}

}  // namespace evosearch::testing_support
