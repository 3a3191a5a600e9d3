/* The daemons under test as child processes: the build to take them from,
 * an agent or a controller alone, and a platform (a controller with an
 * agent registered as host h1, as `ditto up` starts one). */
#ifndef DITTO_TESTS_PROCS_H
#define DITTO_TESTS_PROCS_H

#include "daemon_proc.h"

/* How long a daemon may take to listen. */
#define PROC_START_MS 30000L

/* The build folder: $DITTO_BUILD, or "build". */
const char *test_build_dir(void);

/* Starts the build's ditto-agent with its data in data_dir. Returns 0 or
 * -errno as daemon_proc_start_agent does (-ECHILD: it refused to start). */
int proc_start_agent(struct daemon_proc *p, const char *data_dir, const char *const *extra);

/* Starts the build's ditto-controller with its data in data_dir, on port
 * (0: any free one), and reads the admin key it made into admin. Returns 0
 * or -errno (-EIO: no admin key). */
int proc_start_controller(struct daemon_proc *p, const char *data_dir, int port,
			  const char *const *extra, char admin[128]);

/* A controller with agents registered to it, all under dir. */
struct platform {
	char dir[64];
	struct daemon_proc controller, agent; /* the agent is host h1 */
	char admin[128];                      /* the controller's admin key */
};

/* Makes a fresh folder and starts the controller (hosts lost after 2 s of
 * silence) and agent h1 (a heartbeat every 200 ms). Returns 0 or -errno,
 * having said on stderr what failed. */
int platform_start(struct platform *p);

/* Starts the controller again on the port it had, with the same data. */
int platform_controller_start(struct platform *p);

/* Starts an agent that registers as host_id, with its data in DIR/ID. */
int platform_agent_start(struct platform *p, struct daemon_proc *a, const char *host_id,
			 const char *const *extra);

/* Stops the agent, then the controller, and removes the folder unless
 * $DITTO_KEEP is set. */
void platform_stop(struct platform *p);

#endif
