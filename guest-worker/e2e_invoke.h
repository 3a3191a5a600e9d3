/* The guest's end of end-to-end encryption (lib/e2e.h): the VM's X25519 key
 * pair, generated when the daemon starts and never leaving it; the evidence
 * that binds its public key to a verifier's nonce (WIRE_ATTEST); and the
 * steps of an encrypted invocation (WIRE_INVOKE with "e2e": true): opening
 * the request, opening the sealed artifact once per digest into a plain
 * executable kept in a private folder of guest memory (tmpfs; encrypted
 * under SEV-SNP), and sealing the result and the log to the request's
 * client key. Nothing here logs a secret or a plaintext. */
#ifndef DITTO_GUEST_E2E_INVOKE_H
#define DITTO_GUEST_E2E_INVOKE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "artifact.h"
#include "host_binding.h"
#include "sev_guest.h"
#include "e2e.h"
#include "runner.h"

#define GUEST_E2E_PLAIN_DIR "/run/ditto/plain"

struct e2e_opened;

struct guest_e2e {
	struct e2e_keypair key;
	/* The opened executables, each under the digest of its sealed
	 * artifact; the folder is 0700 and its files 0700. */
	struct artifact_store plain;
	/* The digests opened in this run, each with a hash of the tenant
	 * secret that opened it: a later request must carry the same secret,
	 * or it opens the sealed artifact again (and fails). */
	struct e2e_opened *opened;
	/* What this VM may run (host_binding.h): read once at start. */
	struct host_binding bind;
};

/* Reads what this VM may run into g->bind (host_binding_read) and logs it;
 * it cannot fail the start: a confidential VM without its HOST_DATA refuses
 * every invocation instead. */
void guest_e2e_bind(struct guest_e2e *g, const char *sev_guest, const char *sysfs_root);

/* Generates the key pair (the kernel's random source may make it wait for
 * entropy early in boot: *ret_wait_us says how long it waited) and opens the
 * folder of plain executables, plain_dir. Returns 0, or -errno with
 * *ret_step naming what failed. */
int guest_e2e_init(struct guest_e2e *g, const char *plain_dir, uint64_t *ret_wait_us,
		   const char **ret_step);
/* Wipes the key and frees everything; accepts a zeroed struct. */
void guest_e2e_fini(struct guest_e2e *g);

/* Answers WIRE_ATTEST's meta {"nonce": hex of 1..64 bytes}: the reply meta
 * {"type": "none"|"sev-snp", "public_key": 64 hex, "report_len" (sev-snp)}
 * in *ret_meta and the evidence (the body: report, then the certificate
 * table if any) in *ret_ev, from the SEV guest device at sev_path with
 * REPORT_DATA = e2e_report_data(nonce, public key). Returns 0; -EINVAL for a
 * bad nonce (answer bad_request); another -errno when the device failed
 * (answer attest_failed); err says why either way. */
int guest_e2e_attest(const struct guest_e2e *g, const char *sev_path, const json_t *meta,
		     json_t **ret_meta, struct attest_evidence *ret_ev, char *err, size_t err_size);

/* Opens an encrypted invocation's request (body, len) bound to
 * inv->invocation and inv->digest, whose sealed artifact is in sealed. On
 * success inv->input holds the plain input, inv->e2e is set with what sealing
 * its response needs (the response key of the request's client key, from the
 * one X25519 exchange the invocation costs), and the plain executable is in
 * g->plain. Before the artifact is opened, the request's tenant secret must
 * be the one g->bind admits. Returns 0, or -errno with the invocation's error
 * in err: -ENOKEY "e2e: not sealed to this VM's key (attest again)"; -EPERM
 * as host_binding_admit() says; otherwise "e2e: cannot open the request
 * (...)" or "e2e: cannot open the artifact (...)". */
int guest_e2e_open(struct guest_e2e *g, const struct artifact_store *sealed, struct inv *inv,
		   const void *body, size_t len, char *err, size_t err_size);

/* Replaces inv's result and log by their sealed response parts (the plain
 * ones are wiped). Returns 0, or -errno with both emptied: nothing plain is
 * ever sent. */
int guest_e2e_seal(struct inv *inv);

#endif
