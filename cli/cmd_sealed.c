/* The encrypted paths of deploy, invoke and invocation: loading the tenant
 * secret, attesting the tenant's VMs before sealing an input to them, and
 * opening what comes back; see sealed.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "sealed.h"
#include "sha256.h"

int sealed_secret_load(const struct cli_command *cmd, const struct sealed_opts *o, bool create,
		       uint8_t ret[E2E_KEY_SIZE])
{
	char path[PATH_MAX];
	int r = sealed_secret_path(o->key_file, o->tenant, path, sizeof(path));
	if (r == -ENOKEY)
		return cli_usage_error(cmd,
				       "name the tenant secret: --e2e-key FILE, $DITTO_E2E_KEY, "
				       "or --tenant T (or $DITTO_TENANT) for "
				       "~/.config/ditto/T.e2e-key");
	if (r == -EINVAL)
		return cli_usage_error(cmd,
				       "\"%s\" is not a tenant name, so it names no tenant secret: "
				       "give --e2e-key FILE",
				       o->tenant);
	if (r < 0)
		return cli_usage_error(cmd, "the tenant secret's path is too long");
	r = sealed_secret_read(path, ret);
	if (r == -ENOENT && create) {
		r = sealed_secret_create(path, ret);
		if (r == 0) {
			fprintf(stderr,
				"ditto: created the tenant secret %s (keep it: only it opens what "
				"it seals)\n",
				path);
			return CLI_EXIT_OK;
		}
		if (r == -EEXIST) /* made by another run meanwhile */
			r = sealed_secret_read(path, ret);
	}
	if (r == -EBADMSG)
		return cli_fail(CLI_EXIT_USAGE, "the tenant secret %s is not 64 hex digits", path);
	if (r == -EPERM)
		return cli_fail(CLI_EXIT_USAGE,
				"the tenant secret %s may be read by others: chmod 600 it", path);
	if (r < 0)
		return cli_fail(r == -ENOENT ? CLI_EXIT_USAGE : CLI_EXIT_API,
				"cannot read the tenant secret %s: %s", path, strerror(-r));
	return CLI_EXIT_OK;
}

int sealed_host_data(const struct cli_command *cmd, const struct sealed_opts *o, bool create,
		     uint8_t ret[SNP_HOST_DATA_SIZE])
{
	uint8_t secret[E2E_KEY_SIZE];
	int code = sealed_secret_load(cmd, o, create, secret);
	if (!code)
		e2e_host_data(secret, ret);
	explicit_bzero(secret, sizeof(secret));
	return code;
}

/* Reads the digest of function name (version: NULL for the latest) into
 * ret_digest, checking it was deployed encrypted. Returns an exit code. */
static int function_digest(struct cli *cli, const struct cli_command *cmd, const char *name,
			   const char *version, char ret_digest[SHA256_HEX_SIZE])
{
	char path[CLI_PATH_SIZE];
	json_t *fn = NULL;
	int code = cli_path(cmd, "/v1/functions/%s", "NAME", name, path);
	if (code)
		return code;
	if (version)
		cli_query_add(path, "version", version);
	if ((code = cli_call(cli, "GET", path, NULL, &fn)))
		return code;
	const char *d = field_str(fn, "digest");
	if (!field_bool(fn, "encrypted"))
		code = cli_fail(
			CLI_EXIT_API,
			"function %s was not deployed encrypted (deploy it with --encrypted)",
			name);
	else if (!d || strlen(d) != SHA256_HEX_SIZE - 1)
		code = cli_fail(CLI_EXIT_API, "the controller's answer holds no function digest");
	else
		memcpy(ret_digest, d, SHA256_HEX_SIZE);
	json_decref(fn);
	return code;
}

/* Asks the controller for fresh evidence of every VM of tenant and checks
 * it (sealed_keys_check), a sev-snp VM's HOST_DATA against host_data.
 * Warns once for evidence of type none. Returns an exit code. */
static int attest(struct cli *cli, const struct cli_command *cmd, const char *tenant,
		  const uint8_t host_data[SNP_HOST_DATA_SIZE], struct sealed_keys *ret)
{
	uint8_t nonce[SEALED_NONCE_SIZE];
	char hex[2 * SEALED_NONCE_SIZE + 1], path[CLI_PATH_SIZE], err[512];
	int code = cli_path(cmd, "/v1/tenants/%s/attestation", "TENANT", tenant, path);
	if (code)
		return code;
	int r = sealed_random(nonce, sizeof(nonce));
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot draw a nonce: %s", strerror(-r));
	bytes_to_hex(nonce, sizeof(nonce), hex);
	cli_query_add(path, "nonce", hex);
	/* Without a VM the controller places one and waits for it to boot. */
	struct http_request rq = { .method = "GET", .path = path, .timeout_ms = 0 };
	json_t *att = NULL;
	if ((code = cli_send_json(cli, &rq, &att)))
		return code;
	struct sealed_expect want = {
		.nonce = nonce,
		.nonce_len = sizeof(nonce),
		.host_data = host_data,
	};
	r = sealed_keys_check(att, &want, ret, err, sizeof(err));
	json_decref(att);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "attestation of tenant %s refused: %s", tenant, err);
	if (ret->none)
		fprintf(stderr, "ditto: %s\n", SEALED_NOT_CONFIDENTIAL);
	return CLI_EXIT_OK;
}

/* Replaces b's contents with p[0..n). Returns an exit code. */
static int buf_set(struct buf *b, const uint8_t *p, size_t n)
{
	buf_reset(b);
	return buf_append(b, p, n) < 0 ? cli_fail(CLI_EXIT_API, "out of memory") : CLI_EXIT_OK;
}

/* Seals input, sends it, opens the synchronous result. Returns an exit
 * code as sealed_invoke. */
static int send_sealed(struct cli *cli, const uint8_t secret[E2E_KEY_SIZE],
		       const struct sealed_keys *keys, const char *digest, const char *path,
		       const struct buf *input, bool async, struct http_response *ret)
{
	uint8_t raw[SEALED_ID_SIZE], *msg = NULL, *plain = NULL;
	char id[2 * SEALED_ID_SIZE + 1], header[96];
	size_t len = 0, plen = 0;
	struct e2e_keypair client;
	int r = sealed_random(raw, sizeof(raw));
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot draw an invocation id: %s", strerror(-r));
	bytes_to_hex(raw, sizeof(raw), id);
	struct e2e_aad aad = { .invocation_id = id, .digest = digest };
	r = e2e_client_key(secret, id, &client);
	if (r == 0)
		r = e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])keys->pub, keys->n,
				     secret, &aad, input->data, input->len, &msg, &len);
	if (r < 0) {
		explicit_bzero(&client, sizeof(client));
		return cli_fail(CLI_EXIT_API, "cannot seal the input: %s", strerror(-r));
	}
	snprintf(header, sizeof(header), "X-Ditto-Invocation-Id: %s", id);
	struct http_request rq = {
		.method = "POST",
		.path = path,
		.body = msg,
		.body_len = len,
		.content_type = "application/octet-stream",
		.header = header,
		.timeout_ms = async ? CLI_CALL_TIMEOUT_MS : 0,
	};
	int code = cli_send(cli, &rq, ret);
	free(msg);
	if (code == CLI_EXIT_OK && !async) {
		r = e2e_response_open(&client, (const uint8_t(*)[E2E_KEY_SIZE])keys->pub, keys->n,
				      &aad, E2E_PART_RESULT, ret->body.data, ret->body.len, &plain,
				      &plen, NULL);
		code = r < 0 ? cli_fail(CLI_EXIT_API,
					"cannot open the result of invocation %s: %s (not sealed "
					"by an attested VM to this invocation)",
					id, strerror(-r))
			     : buf_set(&ret->body, plain, plen);
	}
	explicit_bzero(&client, sizeof(client));
	free(plain);
	return code;
}

/* Did the invocation fail because it reached a VM whose key the input was
 * not sealed to (one started, or restarted, after the attestation)? */
static bool reached_other_vm(int code, const struct http_response *r)
{
	if (code != CLI_EXIT_FUNCTION)
		return false;
	json_t *o = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	const char *msg = field_str(json_object_get(o, "error"), "message");
	bool other = msg && strstr(msg, "(attest again)");
	json_decref(o);
	return other;
}

int sealed_invoke(struct cli *cli, const struct cli_command *cmd, const struct sealed_opts *o,
		  const char *name, const char *path, const struct buf *input, bool async,
		  struct http_response *ret)
{
	*ret = (struct http_response){ 0 };
	if (!o->tenant)
		return cli_usage_error(cmd, "--encrypted needs the tenant, to attest its VMs: "
					    "--tenant T or $DITTO_TENANT");
	uint8_t secret[E2E_KEY_SIZE], host_data[SNP_HOST_DATA_SIZE];
	char digest[SHA256_HEX_SIZE];
	struct sealed_keys *keys = calloc(1, sizeof(*keys));
	if (!keys)
		return cli_fail(CLI_EXIT_API, "out of memory");
	int code = sealed_secret_load(cmd, o, false, secret);
	if (!code)
		code = function_digest(cli, cmd, name, cli->version, digest);
	/* A confidential VM must have been launched for this secret. */
	e2e_host_data(secret, host_data);
	/* Once more when a VM the attestation did not see took the call. */
	for (int tries = 0; !code; tries++) {
		code = attest(cli, cmd, o->tenant, host_data, keys);
		if (!code)
			code = send_sealed(cli, secret, keys, digest, path, input, async, ret);
		if (tries > 0 || !reached_other_vm(code, ret))
			break;
		fprintf(stderr, "ditto: the call reached a VM that was not attested; attesting "
				"again\n");
		http_response_free(ret);
		code = CLI_EXIT_OK;
	}
	explicit_bzero(secret, sizeof(secret));
	free(keys);
	return code;
}

/* Opens one part of a record in place when it is sealed. Returns an exit
 * code; *ret_vm gets the key that sealed it. */
static int part_open(json_t *rec, const struct e2e_keypair *client, const struct e2e_aad *aad,
		     enum e2e_part part, uint8_t ret_vm[E2E_KEY_SIZE])
{
	const char *key = part == E2E_PART_RESULT ? "result" : "log";
	const char *enc = part == E2E_PART_RESULT ? "result_encoding" : "log_encoding";
	uint8_t *sealed = NULL, *plain = NULL, vm[1][E2E_KEY_SIZE];
	size_t len = 0, plen = 0;
	int code = CLI_EXIT_OK;
	if (payload_from_json(rec, key, enc, &sealed, &len) < 0)
		code = cli_fail(CLI_EXIT_API, "the record's %s is not valid base64", key);
	else if (len && sealed_part_key(sealed, len, vm[0]) == 0) {
		int r = e2e_response_open(client, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, aad, part,
					  sealed, len, &plain, &plen, NULL);
		if (r < 0)
			code = cli_fail(CLI_EXIT_API,
					"cannot open the %s of invocation %s: %s (another tenant "
					"secret?)",
					key, aad->invocation_id, strerror(-r));
		else {
			payload_to_json(rec, key, enc, plain, plen);
			memcpy(ret_vm, vm[0], E2E_KEY_SIZE);
		}
	}
	free(sealed);
	free(plain);
	return code;
}

/* Does the record hold a sealed result or log part? */
static bool record_is_sealed(json_t *rec)
{
	static const char *const keys[][2] = { { "result", "result_encoding" },
					       { "log", "log_encoding" } };
	bool sealed = false;
	for (size_t i = 0; i < 2 && !sealed; i++) {
		uint8_t *p = NULL, vm[E2E_KEY_SIZE];
		size_t len = 0;
		sealed = payload_from_json(rec, keys[i][0], keys[i][1], &p, &len) == 0 &&
			 sealed_part_key(p, len, vm) == 0;
		free(p);
	}
	return sealed;
}

int sealed_record_open(struct cli *cli, const struct cli_command *cmd, const struct sealed_opts *o,
		       json_t *rec)
{
	const char *id = field_str(rec, "id"), *fn = field_str(rec, "function");
	if (!record_is_sealed(rec))
		return CLI_EXIT_OK; /* a plain record, or nothing to open yet */
	if (!id || !fn)
		return cli_fail(CLI_EXIT_API, "the record names no id or function");
	uint8_t secret[E2E_KEY_SIZE], vm[E2E_KEY_SIZE] = { 0 }, none[E2E_KEY_SIZE] = { 0 };
	char digest[SHA256_HEX_SIZE], version[32], hex[2 * E2E_KEY_SIZE + 1];
	struct e2e_keypair client;
	snprintf(version, sizeof(version), "%lld", (long long)field_int(rec, "version", 0));
	int code = sealed_secret_load(cmd, o, false, secret);
	if (!code)
		code = function_digest(cli, cmd, fn,
				       field_int(rec, "version", 0) > 0 ? version : NULL, digest);
	if (!code && e2e_client_key(secret, id, &client) < 0)
		code = cli_fail(CLI_EXIT_API, "cannot derive the invocation's client key");
	explicit_bzero(secret, sizeof(secret));
	if (code)
		return code;
	struct e2e_aad aad = { .invocation_id = id, .digest = digest };
	code = part_open(rec, &client, &aad, E2E_PART_RESULT, vm);
	if (!code)
		code = part_open(rec, &client, &aad, E2E_PART_LOG, vm);
	explicit_bzero(&client, sizeof(client));
	if (!code && memcmp(vm, none, sizeof(vm)) != 0) {
		bytes_to_hex(vm, sizeof(vm), hex);
		json_object_set_new(rec, "sealed_by", json_string(hex));
	}
	return code;
}
