/* ditto-guest's daemon: one event loop over the agent channel, kernel CPU
 * uevents, the CPU helper thread, signals and the function processes. It
 * answers the requests of lib/wire.h, keeps each worker CPU offline, standby
 * or active, and runs at most one invocation at a time on each active CPU
 * (never on CPU 0, the control CPU), queueing the rest. */
#ifndef DITTO_GUEST_DAEMON_H
#define DITTO_GUEST_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAEMON_QUEUE_MAX 4096

struct daemon_config {
	int port_fd;              /* the channel to the agent; taken over */
	bool port_eof_ends;       /* EOF on it ends the daemon (socket, pipe) */
	const char *sysfs_root;   /* "/sys"; tests use a tree of plain files */
	const char *artifact_dir; /* where artifacts are cached */
	/* Where the opened executables of end-to-end encrypted artifacts are
	 * kept (guest memory: tmpfs), and the SEV guest device; tests point
	 * both into a scratch folder. */
	const char *plain_dir;
	const char *sev_guest;
	/* The runtimes' launchers (runtime.h) and the cgroup v2 root under
	 * which every function process gets a cgroup of its own (none where it
	 * is not one). */
	const char *launchers_dir;
	const char *cgroup_root;
	/* -1: open a NETLINK_KOBJECT_UEVENT socket. Otherwise a datagram
	 * socket carrying messages in the kernel's uevent format from any
	 * sender (taken over), which lets tests play the kernel's part. */
	int uevent_fd;
	uint32_t max_body; /* largest frame body accepted */
	size_t queue_max;  /* invocations waiting for a CPU */
};

/* Fills in the production defaults (port_fd stays -1). */
void daemon_config_defaults(struct daemon_config *cfg);

/* Runs the daemon until the agent's end of a socket or pipe channel closes,
 * or SIGTERM, SIGINT or SIGHUP arrives. It blocks those signals and SIGCHLD
 * in the calling thread, ignores SIGPIPE, pins the calling thread to CPU 0,
 * and becomes the child subreaper so every orphan of a function is reaped
 * here even when it is not PID 1.
 * Returns 0 on such a stop, or -errno when it could not start or the channel
 * failed for good. */
int daemon_run(const struct daemon_config *cfg);

#endif
