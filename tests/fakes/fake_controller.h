/* A stand-in controller on loopback (libmicrohttpd on its own thread) for
 * the agent's uplink: it records registrations (POST /v1/hosts) and
 * heartbeats (POST /v1/hosts/ID/heartbeat) and answers as the test tells it.
 * Fields below the lock are read and set with it held. */
#ifndef DITTO_TESTS_FAKE_CONTROLLER_H
#define DITTO_TESTS_FAKE_CONTROLLER_H

#include <pthread.h>

#include <jansson.h>

struct fake_controller {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int register_calls, registered, heartbeats;
	int fail_registrations;     /* answer 503 to this many registrations */
	int heartbeat_status;       /* answer the next heartbeat with this, once */
	json_t *reg_body, *hb_body; /* the last ones */
	char reg_auth[256], hb_auth[256], hb_url[256];
};

/* Starts it on a free port (f->url); fails the test when it cannot. */
void fake_controller_start(struct fake_controller *f);
void fake_controller_stop(struct fake_controller *f);

/* With f->lock held, waits up to a minute until *counter (one of f's
 * counters) reaches n; fails the test when it does not. */
void fake_controller_wait(struct fake_controller *f, const int *counter, int n);

#endif
