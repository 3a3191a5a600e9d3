/* The host agent's context: one per process, owning the event loop, the core
 * budget, the artifact store, the VMs, the operator API and the controller
 * link. Ownership runs one way, down from here: the agent hands each part
 * what it needs and hears back through callbacks with the agent as their
 * data. A VM takes struct vm_env and reports that it is gone through its
 * hook; the API (api.h) takes its limits in struct api_server_config and
 * reaches the agent's VMs and status only through struct api_server_ops;
 * the controller link (uplink.h) takes its config and a status callback.
 * None of them includes this header. */
#ifndef DITTO_AGENT_H
#define DITTO_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "artifacts.h"
#include "cores.h"
#include "qemu.h"
#include "vm.h"

struct vm;
struct api_server;
struct uplink;

/* The most controllers an agent registers with. */
#define AGENT_CONTROLLERS_MAX 8

/* An API token or a controller key: 1..AGENT_TOKEN_MAX-1 printable ASCII
 * characters, no spaces. */
#define AGENT_TOKEN_MAX 128

struct agent_config {
	const char *listen_addr; /* operator API, loopback by default */
	int port;                /* 0 picks a free port (printed at start) */
	const char *data_dir;    /* VM run folders and the artifact store */
	const char *image_dir;   /* the guest image (make guest) */
	const char *qemu;        /* qemu-system-x86_64 */
	const char *cores;       /* core budget: "all" or a list "0-3,6" */
	enum accel accel;        /* auto, kvm or tcg */
	int ping_interval_ms;
	int ping_timeout_ms;
	int boot_timeout_ms; /* a guest not ready by then is killed */
	size_t max_artifact; /* bytes */
	size_t max_input;    /* bytes of function input */
	size_t max_output;   /* bytes of result and of log */
	int max_timeout_ms;
	int default_timeout_ms;
	unsigned max_inflight;  /* invocations per VM sent and unanswered */
	const char *ready_file; /* written with the API URL once listening */
	/* Registration with controllers (uplink.h): a link to each of these
	 * (--controller, repeatable), each registering and heartbeating on
	 * its own; none: no controller. */
	const char *controllers[AGENT_CONTROLLERS_MAX];
	size_t n_controllers;
	const char *controller_key_file; /* holds the Bearer key for the controller */
	const char *host_id;             /* NULL: the machine's hostname */
	const char *advertise;           /* URL the controller calls; NULL: http://LISTEN:PORT */
	int heartbeat_ms;
	/* Holds the token the API requires. NULL: with a controller, a random
	 * one is made at each start and written to DATA/agent.token; without,
	 * the API is open. */
	const char *token_file;
	/* SEV-SNP: the AmdSev OVMF (NULL: none, so no sev-snp VM here), the
	 * guest policy and the vCPU model of confidential VMs. */
	const char *ovmf_amdsev;
	uint64_t snp_policy;
	const char *snp_vcpu_model;
	/* Copy every guest channel's bytes into this folder (NULL: do not). */
	const char *wire_capture;
	enum guest_ports guest_ports; /* --guest-ports (vm_ports.h) */
};

void agent_config_defaults(struct agent_config *c);

struct agent {
	uv_loop_t *loop;
	struct agent_config cfg;
	struct cores cores;
	struct artifacts store;
	struct guest_image image;
	enum accel accel;
	char accel_why[96];
	struct vm_snp snp; /* whether this host can run sev-snp VMs, found at start */
	char qemu_version[64];
	int qemu_major;
	struct vm *vms;
	struct vm_env vm_env; /* what the VMs take from the agent */
	struct api_server *api;
	struct uplink *uplinks[AGENT_CONTROLLERS_MAX]; /* one per controller */
	char token[AGENT_TOKEN_MAX]; /* "" when the API needs none */
	uv_signal_t sig_int, sig_term;
	uv_timer_t teardown; /* closes the rest once a shutdown has no VM left */
	bool handles_init;   /* the signals and teardown are initialised, not yet closed */
	int port;
	bool stopping;
};

/* Sets up everything but does not run the loop. Returns 0 or a negative errno;
 * on failure writes a one-line reason to err. */
int agent_init(struct agent *a, uv_loop_t *loop, const struct agent_config *cfg, char *err,
	       size_t err_len);

/* Runs until SIGINT/SIGTERM, then stops every VM and returns 0. */
int agent_run(struct agent *a);

/* Starts the orderly shutdown (used by the signal handlers): stops every VM
 * and, once the last one is gone, closes the API, the controller link and
 * the signal handlers, so that agent_run() returns. */
void agent_shutdown(struct agent *a);

/* Releases what agent_init() acquired: closes whatever is still open (all of
 * it after a failed agent_init(), nothing after agent_run() has returned),
 * runs the loop until the close callbacks have freed it, and wipes the
 * token. The loop itself stays the caller's. Accepts a half-initialised
 * agent; call it after agent_init() whatever it returned. */
void agent_free(struct agent *a);

/* The agent's status, as GET /v1/status answers and heartbeats carry it;
 * "confidential" says whether sev-snp VMs can run here and, if not, why. */
json_t *agent_status_json(const struct agent *a);

/* Reads a token or key from the first line of a file (surrounding whitespace
 * dropped). Returns 0, -errno, or -EINVAL when it is empty, too long or not
 * printable ASCII. */
int agent_read_token(const char *path, char ret[AGENT_TOKEN_MAX]);

#endif
