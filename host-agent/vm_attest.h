/* Asking a guest for its attestation evidence (WIRE_ATTEST) and turning
 * its answer into the JSON the agent's API returns. The agent never checks
 * the evidence: the controller and the tenant's client verify it. */
#ifndef DITTO_VM_ATTEST_H
#define DITTO_VM_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct guest_chan;

/* The most bytes a nonce may have, and how long the guest may take. */
#define ATTEST_NONCE_MAX 64
#define ATTEST_TIMEOUT_MS 30000

/* True for 1..ATTEST_NONCE_MAX bytes as hex (an even number of hex digits,
 * either case). */
bool attest_nonce_is_valid(const char *hex);

/* The evidence in a WIRE_ATTEST reply as a new object {"type", "public_key",
 * "report": base64 or null, "certs": base64 or null}: for "sev-snp" the body
 * holds the report ("report_len" bytes, the whole body when absent) then
 * the host's certificate table, if any; for "none" neither. Returns 0, or
 * -EBADMSG when the reply does not say that (an unknown type, a public key
 * that is not 64 hex digits, a report_len over the body), or -ENOMEM. */
int attest_evidence_json(json_t *meta, const uint8_t *body, size_t body_len, json_t **ret);

/* status 0: evidence is attest_evidence_json's (borrowed: valid during the
 * call). -EREMOTEIO: the guest refused; meta has its code and message.
 * -EBADMSG: the guest's reply was malformed. Otherwise the channel's
 * status (-ECONNRESET, -ETIMEDOUT); evidence and meta are NULL then. */
typedef void (*attest_done_fn)(int status, json_t *evidence, json_t *meta, void *data);

/* Sends WIRE_ATTEST with nonce (valid as attest_nonce_is_valid says) over
 * ch. Returns 0 and calls cb once, or fails without calling it (-EINVAL,
 * or what guest_chan_request returns). */
int attest_request(struct guest_chan *ch, const char *nonce, attest_done_fn cb, void *data);

#endif
