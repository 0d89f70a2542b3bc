// Every stop signal a node may send asks the job to stop: SIGTERM (scancel, preemption), SIGUSR1
// and SIGUSR2 (Slurm's --signal warning before preemption or the time limit), SIGINT (Ctrl-C),
// SIGHUP (the terminal or ssh session went away) and SIGXCPU (a CPU-time limit reached, e.g.
// ulimit -t or a scheduler's soft limit). The run abandons the generations in flight (each
// prompt stays checkpointed at its last finished one) and exits 75 so a wrapper can requeue.
#pragma once

#include <vector>

namespace evosearch {

// The signals above, in the order they are listed.
const std::vector<int>& stop_signals();
void install_stop_signals();
// The signal that asked to stop, or 0.
int stop_requested();

}  // namespace evosearch
