// Shared by the reward-service tests (one process, and under mpirun): the reference reward server
// (models/reward_server.py) run in the background, the tiny bundle whose guidance reward is that
// service, and a job folder around it.
#pragma once

#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "child_process.h"
#include "tiny_bundle.h"

namespace evosearch::testing_support {

// The same reward as a service on reward.sock in the bundle folder (a relative path).
inline TinyBundle service_bundle() {
  TinyBundle b;
  b.reward.clear();
  b.manifest = replaced(b.manifest, R"("file": "rewards/brightness.pt")", R"("service": "unix:reward.sock")");
  return b;
}

// The reference server on `socket`, started in the background; stopped with the object.
class RewardServer {
 public:
  RewardServer(const std::string& socket, const std::string& extra_args = "") : socket_(socket) {
    pid_ = start_logged("/usr/bin/python3 " EVOSEARCH_SOURCE_DIR "/models/reward_server.py --socket " + socket + " " +
                            extra_args,
                        socket + ".log");
    // The server renames its socket into place once it listens.
    for (int i = 0; i < 3000 && !std::filesystem::exists(socket) && !exited(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~RewardServer() { stop(); }
  bool listening() const { return std::filesystem::exists(socket_) && !exited_; }
  std::string log() const { return read_text(socket_ + ".log"); }
  // True once the server process has ended (by itself or killed).
  bool exited() {
    int status = 0;
    if (!exited_ && waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  void stop() {
    if (exited_) return;
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }

 private:
  std::string socket_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

// A job folder: `bundle`, a suite with a "bright" prompt (the service's bonus) and job.json.
inline std::string make_service_job(const std::string& dir, const TinyBundle& bundle) {
  bundle.write(dir + "/bundle");
  std::ofstream(dir + "/suite.txt") << "a bag\na bright sandal\na dark coat\na plain top\n";
  std::ofstream(dir + "/job.json")
      << R"({"bundle": "bundle", "prompts": "suite.txt", "output": "out", "seed": 5, "sampler": {"steps": 12},
            "batch_size": 3, "prompts_in_flight": 2,
            "search": {"method": "evosearch", "evolution_steps": [0, 4, 8], "population": [6, 4, 4, 4]}})";
  return dir + "/job.json";
}

}  // namespace evosearch::testing_support
