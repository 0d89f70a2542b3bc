#include "cluster/signals.h"

#include <csignal>

namespace evosearch {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void remember_stop_signal(int signal) { g_stop_signal = signal; }

}  // namespace

const std::vector<int>& stop_signals() {
  static const std::vector<int> signals{SIGTERM, SIGUSR1, SIGUSR2, SIGINT, SIGHUP, SIGXCPU};
  return signals;
}

void install_stop_signals() {
  for (int s : stop_signals()) std::signal(s, remember_stop_signal);
}

int stop_requested() { return g_stop_signal; }

}  // namespace evosearch
