/* Test support for the guest worker (ditto-guest): a peer that runs the real
 * daemon (daemon_run() in a forked child) against a fake sysfs tree
 * (guest_sysfs.h) and a temporary artifact folder, and plays the agent over
 * a socketpair and the kernel over a uevent socket. Failures end the running
 * cmocka test. */
#ifndef DITTO_TESTS_GUEST_HARNESS_H
#define DITTO_TESTS_GUEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "e2e.h"
#include "sha256.h"
#include "support/guest_sysfs.h"
#include "wire.h"

/* ---- the peer: the daemon in a child, the test as agent and kernel ------- */

/* One frame from the daemon. */
struct guest_msg {
	struct wire_header hdr;
	json_t *meta;
	uint8_t *body; /* body_len bytes and a NUL */
	size_t body_len;
	struct guest_msg *next;
};

struct peer {
	pid_t pid;
	int fd;        /* our end of the channel */
	int uevent_fd; /* our end of the uevent socket */
	struct fake_sysfs fs;
	char art[128];   /* the daemon's artifact folder */
	char plain[128]; /* its folder of opened end-to-end encrypted artifacts */
	char sev[128];   /* its SEV guest device: absent, unless a test makes it */
	struct wire_decoder dec;
	uint32_t next_id;
	struct guest_msg *saved; /* frames received while waiting for another */
	struct guest_msg hello;
};

struct peer_opts {
	const char *possible, *present, *online; /* CPU lists; default 0-3, 0-3, 0 */
	uint32_t max_body;                       /* 0: the protocol limit */
	size_t queue_max;                        /* 0: the default */
	const char *launchers;                   /* NULL: the default */
	const char *cgroup_root;                 /* NULL: the default */
};

/* Makes the sysfs tree and artifact folder, starts the daemon and waits for
 * its HELLO (kept in p->hello). o may be NULL. */
void peer_start_opts(struct peer *p, const struct peer_opts *o);
void peer_start(struct peer *p);

/* Forks a second daemon on p's tree and artifacts, with port_fd as its
 * channel (EOF ends it when eof_ends) and a copy of p's uevent socket; the
 * child first closes close_fd unless it is -1 (the test's end of the
 * channel). Returns its pid. */
pid_t peer_fork_daemon(struct peer *p, int port_fd, bool eof_ends, int close_fd);

/* Makes *ret the peer of such a second daemon, reached through fd (taken
 * over), and waits for its HELLO (kept in ret->hello). peer_detach() frees
 * what it holds and closes fd; the daemon is the caller's to end. */
void peer_attach(const struct peer *p, int fd, struct peer *ret);
void peer_detach(struct peer *t);

/* Closes the channel, which ends the daemon, checks it exits cleanly and
 * removes its folders. */
void peer_stop(struct peer *p);

/* cmocka fixtures: a started peer in *state (skipping the test when the host
 * has no CPU 1 for the daemon's worker), also with CPU 1 active; and its
 * stop. */
int peer_setup(void **state);
int peer_setup_active(void **state);
int peer_teardown(void **state);

/* Receives the next frame within the deadline. */
void peer_recv_raw(struct peer *p, struct guest_msg *ret);

/* Receives the frame with this id (a reply or an error), keeping others. For
 * id 0, the next unsolicited frame of type type0. */
void peer_wait(struct peer *p, uint32_t id, uint8_t type0, struct guest_msg *ret);

void peer_send_raw(struct peer *p, const void *data, size_t len);

/* Packs hdr and sends it as it is, valid or not, with nothing after it. */
void peer_send_header(struct peer *p, const struct wire_header *hdr);

/* Sends a request and returns its id. */
uint32_t peer_send(struct peer *p, uint8_t type, const char *meta, const void *body,
		   size_t body_len);

/* Sends a request and waits for its answer; asserts its type. */
void peer_call(struct peer *p, uint8_t type, const char *meta, const void *body, size_t body_len,
	       uint8_t want_type, struct guest_msg *ret);

/* Expects a WIRE_ERROR with this code in answer to a request. */
void peer_expect_error(struct peer *p, uint8_t type, const char *meta, const void *body,
		       size_t body_len, const char *code);

void peer_ping(struct peer *p);

/* Uploads a script and returns its digest. */
void peer_put_script(struct peer *p, const char *script, char digest[SHA256_HEX_SIZE]);
/* Uploads len bytes as an artifact and returns its digest. */
void peer_put_artifact(struct peer *p, const void *data, size_t len, char digest[SHA256_HEX_SIZE]);

/* Activates a worker CPU and checks the reply. */
void peer_activate(struct peer *p, int cpu);

/* Sends an invocation; returns its id. extra is more meta fields or "". */
uint32_t peer_invoke_send(struct peer *p, const char *digest, const char *extra, const char *input);

/* Invokes and waits for a WIRE_REPLY with this status (any when NULL). */
void peer_invoke(struct peer *p, const char *digest, const char *extra, const char *input,
		 const char *want_status, struct guest_msg *ret);

/* Asks for the daemon's status and returns its integer field key. */
json_int_t peer_status_int(struct peer *p, const char *key);

/* Puts script as an artifact and invokes it once with input and no more meta,
 * waiting for a WIRE_REPLY with this status (any when NULL). */
void peer_run(struct peer *p, const char *script, const char *input, const char *want_status,
	      struct guest_msg *ret);

/* Invokes, asserts the reply's status and, unless want_result is NULL, its
 * result. */
void peer_invoke_expect(struct peer *p, const char *digest, const char *extra, const char *input,
			const char *want_status, const char *want_result);

/* ---- end-to-end encryption (lib/e2e.h) ----------------------------------- */

/* Seals text with the tenant secret, uploads it and returns its digest. */
void peer_put_sealed(struct peer *p, const uint8_t secret[E2E_KEY_SIZE], const char *text,
		     char digest[SHA256_HEX_SIZE]);

/* A request of the encrypted invocation id of digest carrying secret and
 * input, sealed to the VM key vm by the client key of (secret, id). */
void guest_seal_request(const uint8_t vm[E2E_KEY_SIZE], const uint8_t secret[E2E_KEY_SIZE],
			const char *digest, const char *id, const char *input, uint8_t **ret,
			size_t *ret_len);

/* Sends the encrypted invocation id of digest: a request carrying secret and
 * input, sealed to the VM key vm by the client key of (secret, id), with meta
 * "e2e", "invocation" and extra (more fields or ""); waits for an answer of
 * want_type. */
void peer_invoke_sealed(struct peer *p, const uint8_t vm[E2E_KEY_SIZE],
			const uint8_t secret[E2E_KEY_SIZE], const char *digest, const char *id,
			const char *extra, const char *input, uint8_t want_type,
			struct guest_msg *ret);

/* A real SEV-SNP attestation report (version 2, HOST_DATA zeros) from the
 * test data (DITTO_TESTDATA, else tests/data); malloc'd. */
uint8_t *guest_test_report(size_t *ret_len);

/* ---- frames -------------------------------------------------------------- */

void guest_msg_free(struct guest_msg *m);

/* Meta fields that must be there with this type. */
json_int_t guest_msg_int(const struct guest_msg *m, const char *key);
const char *guest_msg_str(const struct guest_msg *m, const char *key);
bool guest_msg_bool(const struct guest_msg *m, const char *key);

/* The result part of an invocation reply's body (malloc'd string). */
char *guest_msg_result(const struct guest_msg *m);

/* Checks that the result part of an invocation reply is want. */
void guest_msg_expect_result(const struct guest_msg *m, const char *want);

/* The result part read as a decimal number (a pid, a count). */
long guest_msg_result_long(const struct guest_msg *m);

/* The log part of an invocation reply's body. */
const char *guest_msg_log(const struct guest_msg *m);

#endif
