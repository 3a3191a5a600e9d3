/* ditto-bench invoke --encrypted: the echo function sealed end to end
 * (lib/e2e.h), as a tenant's client would run it: the tenant's VM attested
 * once, then each call sealed to its key and each result opened. */
#ifndef DITTO_BENCH_INVOKE_E2E_H
#define DITTO_BENCH_INVOKE_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e2e.h"
#include "platform.h"
#include "sha256.h"

struct bench_e2e {
	uint8_t secret[E2E_KEY_SIZE];    /* the tenant secret */
	char digest[SHA256_HEX_SIZE];    /* the sealed echo's */
	size_t n_keys;                   /* attested VM keys */
	uint8_t keys[E2E_MAX_RECIPIENTS][E2E_KEY_SIZE];
	bool confidential;               /* every VM gave sev-snp evidence that verified */
	char evidence[32];               /* "none" or "sev-snp" (the first VM's) */
};

/* Deploys echo sealed with a fresh tenant secret (a new version of the
 * function, persistent as before) and attests the tenant's VMs for their
 * keys. Call after platform_first_call. Returns 0, or -errno after printing
 * one line. */
int bench_e2e_setup(struct platform *p, struct bench_e2e *ret);

/* One call's request: a fresh invocation id (32 hex) and the input sealed to
 * every VM key with the client key derived for that id. Returns 0 or -errno. */
int bench_e2e_seal(const struct bench_e2e *b, const void *input, size_t len, char id[33],
		   uint8_t **ret, size_t *ret_len);

/* Opens the result of the call with id; true when it equals want. */
bool bench_e2e_check(const struct bench_e2e *b, const char *id, const void *reply, size_t len,
		     const void *want, size_t want_len);

#endif
