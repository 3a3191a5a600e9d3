/* Attestation of tenant VMs. An agent returns a VM's evidence
 * (GET /v1/vms/{name}/attestation?nonce=HEX: the guest's public key and, on
 * SEV-SNP, the hardware-signed report with the host's certificate table);
 * attest_check verifies it with lib/snp_verify, the report's REPORT_DATA
 * bound to the nonce and the key (lib/e2e's e2e_report_data), its
 * MEASUREMENT to the one the agent expects and its HOST_DATA to the
 * tenant's (the commitment to the tenant secret); attest_use is the rule that
 * sends a tenant requiring attestation only to VMs verified for their
 * current run. Both are pure; attest_fetch is the one call to an agent,
 * attest_tenant the whole of a tenant's attestation. */
#ifndef DITTO_ATTESTATION_H
#define DITTO_ATTESTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "link.h"

#define ATTEST_NONCE_MAX 64 /* bytes */
#define ATTEST_HOST_DATA_SIZE 32
#define ATTEST_CODE_SIZE 32

/* What the controller proved of one run of a VM. */
struct attest_verdict {
	bool known;     /* a verdict was taken */
	uint64_t epoch; /* the VM's placement it was taken of */
	int64_t pid;    /* and its QEMU process (0: not known) */
	bool ok;
	char code[ATTEST_CODE_SIZE]; /* snp_verify_code, "evidence_none", "no_vcek", ... */
	char reason[256];            /* why not, or what was proved */
};

enum attest_use {
	ATTEST_USE,    /* the VM may take the invocation */
	ATTEST_VERIFY, /* attest the VM (its current run has no verdict) and ask again */
	ATTEST_REFUSE, /* its current run failed verification: 503 not_attested */
};

/* Whether an invocation of a tenant (required: its attestation is
 * "required") may go to a VM whose run is epoch/pid, given the verdict v
 * held for the VM. A verdict counts only for the run it was taken of. */
enum attest_use attest_use(bool required, const struct attest_verdict *v, uint64_t epoch,
			   int64_t pid);

/* Parses a nonce: 1..ATTEST_NONCE_MAX bytes as hex digits (either case).
 * Returns its length in bytes, or -EINVAL. */
int attest_nonce_parse(const char *hex, uint8_t ret[ATTEST_NONCE_MAX]);

/* The HOST_DATA a tenant's VMs must report, from its 64 hex digits into
 * buf: buf, or NULL when hex is NULL, empty or malformed (not checked). */
const uint8_t *attest_host_data(const char *hex, uint8_t buf[ATTEST_HOST_DATA_SIZE]);

/* Verifies an agent's evidence of one VM against the nonce it was asked
 * with and the tenant's HOST_DATA (ATTEST_HOST_DATA_SIZE bytes; NULL: not
 * checked). Fills ret (epoch and pid untouched) and returns the VM's entry as
 * GET /v1/tenants/{t}/attestation shows it: {"vm", "type", "public_key",
 * "report", "certs", "measurement", "verified": {"ok", "code",
 * "message"}} (the caller adds "host"); NULL when out of memory. Evidence of
 * type none is never ok: code "evidence_none", a message saying NOT
 * CONFIDENTIAL. */
json_t *attest_check(json_t *evidence, const uint8_t *nonce, size_t nonce_len,
		     const uint8_t *host_data, struct attest_verdict *ret);

/* Asks the agent call->address (token, gen as in call; path, method and
 * body are set here) for the evidence of VM vm with a nonce. Returns 0 with
 * the reply, or -errno with why (the agent's error or the link's). */
int attest_fetch(struct link_pool *links, const struct link_call *call, const char *vm,
		 const uint8_t *nonce, size_t nonce_len, json_t **ret, char *why, size_t why_size);

/* attest_fetch then attest_check (host_data as there): the entry (never NULL but when out of
 * memory) says why verification could not run when the fetch failed; ret
 * is then not known (a transport failure proves nothing either way). */
json_t *attest_vm(struct link_pool *links, const struct link_call *call, const char *vm,
		  const uint8_t *nonce, size_t nonce_len, const uint8_t *host_data,
		  struct attest_verdict *ret);

struct fleet;

/* The evidence of every VM of tenant, each verified against the nonce
 * (GET /v1/tenants/{t}/attestation): a tenant with no VM gets one placed as
 * an invocation would, waited for until deadline_us (CLOCK_MONOTONIC); an
 * SEV-SNP report must carry the tenant's host_data when it has one.
 * Each verdict is kept for the VM's run (fleet_route_attested). Returns 0
 * with the "vms" array (each entry as attest_check's, with "host"), or
 * fleet_route_acquire's error with why. */
int attest_tenant(struct fleet *f, struct link_pool *links, const char *tenant,
		  const uint8_t *nonce, size_t nonce_len, uint64_t deadline_us, json_t **ret,
		  char *why, size_t why_size);

#endif
