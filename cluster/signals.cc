#include "cluster/signals.h"

#include <csignal>
#include <initializer_list>

namespace evosearch {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void remember_stop_signal(int signal) { g_stop_signal = signal; }

}  // namespace

void install_stop_signals() {
  for (int s : {SIGTERM, SIGUSR1, SIGINT}) std::signal(s, remember_stop_signal);
}

int stop_requested() { return g_stop_signal; }

}  // namespace evosearch
