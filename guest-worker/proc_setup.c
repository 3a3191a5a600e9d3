#include "proc_setup.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>

#include "log.h"

void process_setup(sigset_t *mask, struct process_state *ret_old)
{
	sigemptyset(mask);
	sigaddset(mask, SIGCHLD);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
	/* Blocked before the helper thread starts, so it inherits the mask
	 * and every one of these signals reaches the signalfd. Blocked signals
	 * are queued even for PID 1, which would otherwise drop them. */
	pthread_sigmask(SIG_BLOCK, mask, &ret_old->mask);
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &ign, &ret_old->sigpipe);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

void process_restore(const struct process_state *old)
{
	sigaction(SIGPIPE, &old->sigpipe, NULL);
	pthread_sigmask(SIG_SETMASK, &old->mask, NULL);
}

void pin_to_control_cpu(void)
{
	cpu_set_t control;
	CPU_ZERO(&control);
	CPU_SET(0, &control);
	if (sched_setaffinity(0, sizeof(control), &control) < 0)
		log_warn("pin_to_cpu0_failed err=%s", strerror(errno));
}
