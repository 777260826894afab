// shoal-init: the small init `--init` puts at PID 1 of a container (docker's /sbin/docker-init).
//
//   docker-init [--] COMMAND [ARG...]
//
// A program written to be started by a shell is a poor PID 1: the kernel gives PID 1 no default signal
// actions (a SIGTERM it does not handle is dropped, so `docker stop` waits for the kill) and orphans are
// re-parented to it, so whatever it does not wait for stays a zombie. This init runs COMMAND as its only
// child, passes on every signal a process can catch, reaps every child, and exits as COMMAND did
// (its code, or 128+N when signal N killed it). Linked statically: busybox-style images have no libc.
//
// The runtime runs it from a sealed memfd copy (annotation org.shoal.init, native/PROTOCOL.md), so
// nothing in the container can write to the host's file.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char* a, const char* b, const char* c) {
  const char* parts[] = {"docker-init: ", a, b, c, "\n"};
  for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    size_t n = strlen(parts[i]);
    while (n > 0) {
      ssize_t w = write(2, parts[i], n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      parts[i] += w;
      n -= (size_t)w;
    }
  }
}

// Signals that report this process's own fault (or stop it outright) are left alone; everything else
// is caught by blocking it and waiting for it.
static int forwardable(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGSYS:
    case SIGTTIN:
    case SIGTTOU:
      return 0;
    default:
      return 1;
  }
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Runs in the child: its own process group, in the terminal's foreground when there is one (so ^C
// reaches it once, not also through us), the signal mask it would have had, then COMMAND.
static void run_command(char** argv, const sigset_t* original) {
  if (setpgid(0, 0) == 0 && isatty(0)) {
    // A background group asking for the terminal gets SIGTTOU; ignored for the call only.
    signal(SIGTTOU, SIG_IGN);
    (void)tcsetpgrp(0, getpgrp());
    signal(SIGTTOU, SIG_DFL);
  }
  sigprocmask(SIG_SETMASK, original, NULL);
  execvp(argv[0], argv);
  int e = errno;
  say("exec ", argv[0], e == ENOENT ? ": no such file or directory" : ": cannot run it");
  _exit(e == ENOENT ? 127 : 126);
}

int main(int argc, char** argv) {
  prctl(PR_SET_NAME, "docker-init", 0, 0, 0);
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) first++;
  if (first >= argc) {
    say("usage: docker-init [--] COMMAND [ARG...]", "", "");
    return 2;
  }

  sigset_t caught, original;
  sigemptyset(&caught);
  for (int s = 1; s < NSIG; s++)
    if (forwardable(s)) sigaddset(&caught, s);
  // Blocked before the fork: a child that exits at once still leaves its SIGCHLD pending for us.
  sigprocmask(SIG_BLOCK, &caught, &original);

  pid_t child = fork();
  if (child < 0) {
    say("fork: ", strerror(errno), "");
    return 1;
  }
  if (child == 0) run_command(argv + first, &original);

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&caught, &info);
    if (sig < 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      // The child may already be gone (then ESRCH): its exit is collected below.
      kill(child, sig);
      continue;
    }
    // SIGCHLDs coalesce: reap everything that has exited, ours or adopted.
    for (;;) {
      int status;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == child) return exit_code(status);
    }
  }
}
