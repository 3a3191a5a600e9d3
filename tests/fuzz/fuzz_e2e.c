/* The end-to-end encryption formats (lib/e2e): sealed artifacts, requests
 * and response parts, opened from arbitrary bytes (what a guest and a
 * client read from the platform) and round tripped.
 *
 * Input: a selector byte, a position (2 bytes), then the payload. Keys are
 * fixed (derived from a constant secret), so a run is reproducible.
 * Checked: the payload taken as a sealed message of each kind opens, if at
 * all, with a known error; the payload sealed as each kind opens to itself
 * with the secret, client key and recipient it was sealed with; and that
 * sealed message with one byte changed (at the position) never opens. */
#include <errno.h>
#include <string.h>

#include "e2e.h"
#include "fuzz.h"

struct keys {
	uint8_t secret[E2E_KEY_SIZE];
	struct e2e_keypair vm, other, client;
	uint8_t pubs[3][E2E_KEY_SIZE];
};

static const struct e2e_aad aad = {
	"0123456789abcdef0123456789abcdef",
	"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
};

static void keys_make(struct keys *k)
{
	memset(k->secret, 0x42, sizeof(k->secret));
	FUZZ_CHECK(e2e_client_key(k->secret, "vm-a", &k->vm) == 0);
	FUZZ_CHECK(e2e_client_key(k->secret, "vm-b", &k->other) == 0);
	FUZZ_CHECK(e2e_client_key(k->secret, aad.invocation_id, &k->client) == 0);
}

static bool same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Flips bits of one byte of m (a copy), at pos modulo its length. */
static uint8_t *tampered(const uint8_t *m, size_t n, uint16_t pos, uint8_t bits)
{
	uint8_t *c = malloc(n);
	FUZZ_CHECK(c);
	memcpy(c, m, n);
	c[pos % n] ^= bits ? bits : 0x80;
	return c;
}

static void check_artifact(const struct keys *k, const uint8_t *p, size_t n, uint16_t pos,
			   uint8_t bits)
{
	uint8_t *out = NULL, *sealed;
	size_t out_len, sealed_len;
	int r = e2e_artifact_open(k->secret, p, n, &out, &out_len);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EINVAL);
	if (r == 0)
		free(out);
	FUZZ_CHECK(e2e_artifact_seal(k->secret, p, n, &sealed, &sealed_len) == 0);
	FUZZ_CHECK(sealed_len == n + E2E_ARTIFACT_OVERHEAD);
	FUZZ_CHECK(e2e_artifact_open(k->secret, sealed, sealed_len, &out, &out_len) == 0);
	FUZZ_CHECK(same(out, out_len, p, n));
	free(out);
	uint8_t *t = tampered(sealed, sealed_len, pos, bits);
	FUZZ_CHECK(e2e_artifact_open(k->secret, t, sealed_len, &out, &out_len) < 0);
	free(t);
	free(sealed);
}

static void check_request(const struct keys *k, const uint8_t *p, size_t n, uint16_t pos,
			  uint8_t bits, size_t recipients)
{
	uint8_t secret[E2E_KEY_SIZE], client_pub[E2E_KEY_SIZE];
	uint8_t *out = NULL, *sealed;
	size_t out_len, sealed_len;
	int r = e2e_request_open(&k->vm, &aad, p, n, secret, client_pub, &out, &out_len);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOKEY || r == -EINVAL);
	if (r == 0)
		free(out);
	FUZZ_CHECK(e2e_request_seal(&k->client, (const uint8_t(*)[E2E_KEY_SIZE])k->pubs, recipients,
				    k->secret, &aad, p, n, &sealed, &sealed_len) == 0);
	FUZZ_CHECK(e2e_request_open(&k->vm, &aad, sealed, sealed_len, secret, client_pub, &out,
				    &out_len) == 0);
	FUZZ_CHECK(same(out, out_len, p, n));
	FUZZ_CHECK(memcmp(secret, k->secret, E2E_KEY_SIZE) == 0);
	FUZZ_CHECK(memcmp(client_pub, k->client.pub, E2E_KEY_SIZE) == 0);
	free(out);

	/* The VM's answer, sealed with the request's key, opens for the client
	 * as coming from that VM (the first recipient). */
	struct e2e_response_key key;
	FUZZ_CHECK(e2e_request_open_key(&k->vm, &aad, sealed, sealed_len, secret, &key, &out,
					&out_len) == 0);
	free(out);
	uint8_t *resp;
	size_t resp_len, vm_index = 99;
	FUZZ_CHECK(e2e_response_seal_key(&key, &aad, E2E_PART_RESULT, p, n, &resp, &resp_len) == 0);
	FUZZ_CHECK(resp_len == n + E2E_RESPONSE_OVERHEAD);
	FUZZ_CHECK(e2e_response_open(&k->client, (const uint8_t(*)[E2E_KEY_SIZE])k->pubs,
				     recipients, &aad, E2E_PART_RESULT, resp, resp_len, &out,
				     &out_len, &vm_index) == 0);
	FUZZ_CHECK(same(out, out_len, p, n) && vm_index == 0);
	free(out);
	/* Not as the other part, and not with a byte changed. */
	FUZZ_CHECK(e2e_response_open(&k->client, (const uint8_t(*)[E2E_KEY_SIZE])k->pubs,
				     recipients, &aad, E2E_PART_LOG, resp, resp_len, &out, &out_len,
				     NULL) < 0);
	uint8_t *t = tampered(resp, resp_len, pos, bits);
	FUZZ_CHECK(e2e_response_open(&k->client, (const uint8_t(*)[E2E_KEY_SIZE])k->pubs,
				     recipients, &aad, E2E_PART_RESULT, t, resp_len, &out, &out_len,
				     NULL) < 0);
	free(t);
	free(resp);

	/* The other recipients' entries (after the header, the client's key
	 * and this VM's entry) are not this VM's concern: each is bound to its
	 * own VM's key, so a change there is for that VM to refuse. */
	size_t at = pos % sealed_len, mine = 8 + 32 + 80;
	if (at >= mine && at < mine + 80 * (recipients - 1))
		at %= mine;
	t = tampered(sealed, sealed_len, (uint16_t)at, bits);
	FUZZ_CHECK(e2e_request_open(&k->vm, &aad, t, sealed_len, secret, client_pub, &out,
				    &out_len) < 0);
	free(t);
	free(sealed);

	/* Arbitrary bytes as a response part. */
	r = e2e_response_open(&k->client, (const uint8_t(*)[E2E_KEY_SIZE])k->pubs, recipients, &aad,
			      E2E_PART_LOG, p, n, &out, &out_len, NULL);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EINVAL);
	if (r == 0)
		free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keys k;
	static bool ready;
	if (!ready) {
		keys_make(&k);
		memcpy(k.pubs[0], k.vm.pub, E2E_KEY_SIZE);
		memcpy(k.pubs[1], k.other.pub, E2E_KEY_SIZE);
		memset(k.pubs[2], 0x09, E2E_KEY_SIZE);
		ready = true;
	}
	struct fuzz_in in = { data, size };
	uint8_t sel = fuzz_byte(&in);
	uint16_t pos = fuzz_u16(&in);
	check_artifact(&k, in.p, in.n, pos, sel);
	check_request(&k, in.p, in.n, pos, sel, 1 + sel % 3);
	return 0;
}
