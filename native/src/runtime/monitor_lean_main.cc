// shoal-monitor: the per-container monitor after setup. shoal-runtime's monitor execs this small
// executable (same pid, inherited fds; arguments from Monitor::lean_argv) so that a monitor
// carries none of the setup code (JSON, mounts, libseccomp) in its memory.
#include <signal.h>
#include <sys/prctl.h>

#include "monitor_impl.h"

int main(int argc, char** argv) {
  // exec resets this: nothing of a container may open our /proc/PID files (exe, fds, memory).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  auto* m = new shoal::Monitor(shoal::MonitorOptions{});
  m->resume(argc, argv);
  m->run();
}
