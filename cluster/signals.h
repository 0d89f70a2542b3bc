// SIGTERM, SIGUSR1 (Slurm's warning before preemption or the time limit) and SIGINT ask the
// job to stop at the next generation boundary, after its checkpoints are written.
#pragma once

namespace evosearch {

void install_stop_signals();
// The signal that asked to stop, or 0.
int stop_requested();

}  // namespace evosearch
