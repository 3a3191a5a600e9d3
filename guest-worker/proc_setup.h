/* What ditto-guest's daemon changes in its own process to run: the signals
 * its loop takes, SIGPIPE, the child subreaper, the control CPU pin. */
#ifndef DITTO_GUEST_PROC_SETUP_H
#define DITTO_GUEST_PROC_SETUP_H

#include <signal.h>

/* What process_setup changed, to put back at the end. */
struct process_state {
	sigset_t mask;
	struct sigaction sigpipe;
};

/* Blocks the signals the loop takes from a signalfd (returned in mask),
 * ignores SIGPIPE and makes the process the child subreaper. Threads started
 * after it inherit the mask, so every one of these signals reaches the
 * signalfd. */
void process_setup(sigset_t *mask, struct process_state *ret_old);

/* Puts back the mask and SIGPIPE's action process_setup changed. */
void process_restore(const struct process_state *old);

/* Pins the calling thread to the control CPU (0), so the daemon's own
 * threads never compete with functions on worker CPUs; threads it starts
 * inherit this (the CPU helper only visits a CPU to probe it, a worker
 * CPU's port moves to its CPU when it comes into service). Logs a failure. */
void pin_to_control_cpu(void);

#endif
