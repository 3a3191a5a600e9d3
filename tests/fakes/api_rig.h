/* The agent's HTTP server (api.c) as its tests run it: on a free port of
 * 127.0.0.1, on a loop run on a thread of its own (fake_loop.h) while the
 * test calls in from outside; and, for the routes that reach a guest, one
 * ready VM behind it whose guest channel ends in the fake guest
 * (fake_guest.h). Failures are test failures (cmocka). */
#ifndef DITTO_TESTS_API_RIG_H
#define DITTO_TESTS_API_RIG_H

#include <uv.h>

#include "api.h"
#include "artifacts.h"
#include "fakes/fake_guest.h"
#include "fakes/fake_loop.h"
#include "sha256.h"
#include "vm.h"

struct api_rig {
	uv_loop_t loop;
	struct fake_loop_thread lt;
	struct api_server *api;
	int port;
	char url[64]; /* http://127.0.0.1:port */
	void (*on_stop)(void *data);
	void *data;
};

/* The agent's usual limits, on 127.0.0.1, with no token, store or
 * connection limit: for a test to change what it looks at. */
struct api_server_config api_rig_config(void);

/* Initialises r's loop, on which the test may open what the server's owner
 * needs before api_rig_start. */
void api_rig_init(struct api_rig *r);

/* Starts the server (cfg, ops and ops_data as for api_server_start) on r's
 * loop and runs the loop on its thread; on_stop(data), unless NULL, runs on
 * it after the server stops, to close what the test opened there. */
void api_rig_start(struct api_rig *r, const struct api_server_config *cfg,
		   const struct api_server_ops *ops, void *ops_data, void (*on_stop)(void *data),
		   void *data);

/* Stops the server and the loop's thread, checking the loop closes clean. */
void api_rig_stop(struct api_rig *r);

/* A cmocka teardown for a fixture in *state (malloc'd) whose first member
 * is its struct api_rig: stops that and frees the fixture. */
int api_rig_teardown(void **state);

/* A server whose owner has one ready VM, of tenant t1: it finds that VM for
 * its tenant only, lists no VMs, refuses to start one (-EEXIST), reports an
 * empty status and is never stopping. */
struct api_vm_rig {
	struct api_rig srv;
	char dir[256]; /* a scratch folder, the artifacts' */
	struct artifacts store;
	struct fake_guest guest;
	struct vm *vm;     /* just what the routes use: ready, its channel, its invocations */
	struct vm_env env; /* the VM's: only its image */
	struct guest_image image;
	char digest[SHA256_HEX_SIZE]; /* the one function in the store */
	void (*on_stop)(void *data);
	void *data;
};

/* Makes the scratch folder (named after name), the artifact store holding
 * source as its one function, and the VM, with max_inflight invocations at
 * once and its channel connected to the fake guest in auto mode; the test
 * may set the guest's replies and the VM's image before api_vm_rig_start. */
void api_vm_rig_open(struct api_vm_rig *v, const char *name, const char *source,
		     unsigned max_inflight);

/* Starts the server with cfg (its store set to v's) and the owner above;
 * on_stop as for api_rig_start, run after the guest's channel closes. */
void api_vm_rig_start(struct api_vm_rig *v, struct api_server_config *cfg,
		      void (*on_stop)(void *data), void *data);

/* Stops it all, frees the VM and removes the scratch folder. */
void api_vm_rig_stop(struct api_vm_rig *v);

/* api_rig_teardown for a fixture whose first member is its struct
 * api_vm_rig. */
int api_vm_rig_teardown(void **state);

#endif
