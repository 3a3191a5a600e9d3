/* The client side of end-to-end encryption (lib/e2e.h): the tenant secret
 * and its file, the VM keys an encrypted invocation may seal to (taken from
 * the controller's attestation answer once each VM's evidence is checked),
 * and the commands' encrypted paths (deploy --encrypted, invoke --encrypted,
 * opening an encrypted invocation record). */
#ifndef DITTO_CLI_SEALED_H
#define DITTO_CLI_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"
#include "e2e.h"
#include "snp_verify.h"

/* A random 32-byte nonce, as 64 hex digits, asks the VMs for fresh evidence. */
#define SEALED_NONCE_SIZE 32
/* An invocation id: 16 random bytes as 32 lower-case hex digits. */
#define SEALED_ID_SIZE 16

/* The NOT CONFIDENTIAL warning for evidence of type none (one stderr line). */
#define SEALED_NOT_CONFIDENTIAL "NOT CONFIDENTIAL: evidence type none (no SEV-SNP hardware)"

/* Where the tenant secret lives: file (--e2e-key FILE) when given, else
 * $DITTO_E2E_KEY (a file path too), else ~/.config/ditto/<tenant>.e2e-key.
 * Writes the path into out. Returns 0, -ENOKEY when none can be named (no
 * tenant, or no $HOME, for the default), -EINVAL when tenant is not a tenant
 * name ([a-z0-9-]{1,63}), -ENAMETOOLONG. */
int sealed_secret_path(const char *file, const char *tenant, char *out, size_t size);

/* Reads a tenant secret: 64 hex digits and an optional newline, in a file
 * that neither group nor others may read. Returns 0, -errno of opening it,
 * -EBADMSG when it is not 64 hex digits, -EPERM when its mode lets others
 * read or write it. */
int sealed_secret_read(const char *path, uint8_t ret[E2E_KEY_SIZE]);

/* Creates a new tenant secret at path (32 random bytes written as 64 hex
 * digits and a newline, mode 0600; missing folders are made with mode
 * 0700). Returns 0, -EEXIST when path exists, or -errno. */
int sealed_secret_create(const char *path, uint8_t ret[E2E_KEY_SIZE]);

/* Fills n random bytes from the system's source. Returns 0 or -errno. */
int sealed_random(uint8_t *p, size_t n);

/* The VM keys an invocation seals to. */
struct sealed_keys {
	size_t n;
	uint8_t pub[E2E_MAX_RECIPIENTS][E2E_KEY_SIZE];
	size_t none; /* of them, how many gave evidence of type none */
};

/* What the VMs' evidence must show. */
struct sealed_expect {
	const uint8_t *nonce; /* the nonce asked with, nonce_len (1..64) bytes */
	size_t nonce_len;
	/* The HOST_DATA a sev-snp VM must have been launched with
	 * (SNP_HOST_DATA_SIZE bytes: e2e_host_data of the tenant secret);
	 * NULL: not checked. */
	const uint8_t *host_data;
	bool require; /* evidence of type none is refused */
};

/* Checks the controller's answer to GET /v1/tenants/{t}/attestation?nonce=
 * for want: it is for that nonce; each VM's public key is 64 hex digits;
 * for sev-snp the report is there, its REPORT_DATA is e2e_report_data(nonce,
 * key), its HOST_DATA the one wanted, its MEASUREMENT the one the VM's entry
 * expects, and the controller's verdict (verified.ok) is true; evidence of
 * type none is refused when want->require is true or the tenant requires
 * attestation. Fills ret with the keys. On failure writes one line saying
 * which VM failed and why into err. Returns 0, -EACCES (evidence refused),
 * -EBADMSG (a malformed answer) or -ENOENT (no VM). */
int sealed_keys_check(const json_t *att, const struct sealed_expect *want, struct sealed_keys *ret,
		      char *err, size_t err_len);

/* The VM key a sealed response part names (its bytes 8..40). Returns 0 or
 * -EBADMSG when the part is too short to hold one. */
int sealed_part_key(const uint8_t *part, size_t len, uint8_t ret[E2E_KEY_SIZE]);

/* What the encrypted paths of the commands share from the command line. */
struct sealed_opts {
	const char *key_file; /* --e2e-key FILE, or NULL */
	const char *tenant;   /* --tenant T, else $DITTO_TENANT, or NULL */
};

/* Loads the tenant secret the options name (creating it when create is true
 * and it does not exist yet, saying so on stderr). Returns an exit code,
 * after printing why it failed. */
int sealed_secret_load(const struct cli_command *cmd, const struct sealed_opts *o, bool create,
		       uint8_t ret[E2E_KEY_SIZE]);

/* The HOST_DATA a confidential VM of the tenant is launched with and
 * reports: e2e_host_data of the tenant secret the options name (created, as
 * sealed_secret_load does, when create is true and it does not exist).
 * Returns an exit code, after printing why it failed. */
int sealed_host_data(const struct cli_command *cmd, const struct sealed_opts *o, bool create,
		     uint8_t ret[SNP_HOST_DATA_SIZE]);

/* invoke --encrypted: attests the tenant's VMs, seals input to their keys
 * for the function name (version: cli->version), sends it to path (the
 * invoke path with its query) under a fresh invocation id and, when the
 * answer is a synchronous result, replaces ret->body with the opened
 * result. Returns an exit code as cli_send, with the answer in *ret (the
 * caller frees it). */
int sealed_invoke(struct cli *cli, const struct cli_command *cmd, const struct sealed_opts *o,
		  const char *name, const char *path, const struct buf *input, bool async,
		  struct http_response *ret);

/* Opens an encrypted invocation record's result and log in place (each
 * becomes the plain text, with its encoding), with the client key derived
 * from the tenant secret and the record's id, and the function digest read
 * from the controller. Adds "sealed_by": the VM key that sealed them. A
 * record with nothing sealed is left as it is. Returns an exit code after
 * printing why it failed. */
int sealed_record_open(struct cli *cli, const struct cli_command *cmd, const struct sealed_opts *o,
		       json_t *rec);

#endif
