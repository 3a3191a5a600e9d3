/* ditto-bench invoke --encrypted; see invoke_e2e.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "bench.h"
#include "encoding.h"
#include "invoke_e2e.h"

#define TENANT "bench"

static int deploy_sealed(struct platform *p, struct bench_e2e *b)
{
	void *art;
	size_t len;
	int r = platform_echo_read(p->o, &art, &len);
	if (r < 0)
		return r;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	r = e2e_artifact_seal(b->secret, art, len, &sealed, &sealed_len);
	free(art);
	if (r < 0) {
		fprintf(stderr, "ditto-bench: cannot seal echo: %s\n", strerror(-r));
		return r;
	}
	sha256_hex(sealed, sealed_len, b->digest);
	char query[160];
	platform_echo_query(p->o, query, sizeof(query));
	strcat(query, "&encrypted=true");
	r = platform_deploy(p, "echo", sealed, sealed_len, query);
	free(sealed);
	return r;
}

/* Takes each VM's key from the attestation reply; the report binding is the
 * verifier's job (ditto attest), which this benchmark does not time. */
static int take_keys(json_t *reply, struct bench_e2e *b)
{
	json_t *vms = json_object_get(reply, "vms"), *vm;
	size_t i;
	b->confidential = json_array_size(vms) > 0;
	json_array_foreach(vms, i, vm) {
		const char *type = json_string_value(json_object_get(vm, "type"));
		const char *pub = json_string_value(json_object_get(vm, "public_key"));
		json_t *verified = json_object_get(vm, "verified");
		if (b->n_keys == E2E_MAX_RECIPIENTS ||
		    hex_to_bytes(pub, b->keys[b->n_keys], E2E_KEY_SIZE) < 0)
			return -EBADMSG;
		b->n_keys++;
		if (i == 0)
			snprintf(b->evidence, sizeof(b->evidence), "%s", type ? type : "?");
		if (!type || strcmp(type, "sev-snp") != 0 ||
		    !json_is_true(json_object_get(verified, "ok")))
			b->confidential = false;
	}
	return b->n_keys > 0 ? 0 : -ENOENT;
}

static int attest(struct platform *p, struct bench_e2e *b)
{
	uint8_t nonce[32];
	char path[160], hex[65];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	bytes_to_hex(nonce, sizeof(nonce), hex);
	snprintf(path, sizeof(path), "/v1/tenants/%s/attestation?nonce=%s", TENANT, hex);
	json_t *reply = NULL;
	int st = api_client_call(&p->tenant, "GET", path, NULL, 0, 180000, &reply);
	int r = st == 200 ? take_keys(reply, b) : -EIO;
	json_decref(reply);
	if (r < 0)
		fprintf(stderr, "ditto-bench: attesting the tenant's VMs failed (%d)\n", st);
	return r;
}

int bench_e2e_setup(struct platform *p, struct bench_e2e *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (RAND_bytes(ret->secret, sizeof(ret->secret)) != 1)
		return -EIO;
	int r = deploy_sealed(p, ret);
	if (r == 0)
		r = attest(p, ret);
	return r;
}

int bench_e2e_seal(const struct bench_e2e *b, const void *input, size_t len, char id[33],
		   uint8_t **ret, size_t *ret_len)
{
	uint8_t raw[16];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	bytes_to_hex(raw, sizeof(raw), id);
	struct e2e_keypair client;
	int r = e2e_client_key(b->secret, id, &client);
	if (r < 0)
		return r;
	struct e2e_aad aad = { .invocation_id = id, .digest = b->digest };
	return e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])b->keys, b->n_keys,
				b->secret, &aad, input, len, ret, ret_len);
}

bool bench_e2e_check(const struct bench_e2e *b, const char *id, const void *reply, size_t len,
		     const void *want, size_t want_len)
{
	struct e2e_keypair client;
	if (e2e_client_key(b->secret, id, &client) < 0)
		return false;
	struct e2e_aad aad = { .invocation_id = id, .digest = b->digest };
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int r = e2e_response_open(&client, (const uint8_t(*)[E2E_KEY_SIZE])b->keys, b->n_keys,
				  &aad, E2E_PART_RESULT, reply, len, &plain, &plain_len, NULL);
	bool ok = r == 0 && plain_len == want_len && memcmp(plain, want, want_len) == 0;
	free(plain);
	return ok;
}
