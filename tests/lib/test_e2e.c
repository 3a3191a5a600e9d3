/* Unit tests for the end-to-end encryption scheme (lib/e2e): round trips of
 * artifacts, requests and response parts; every flipped byte and every
 * wrong associated datum refused; known answers for the client key,
 * HOST_DATA and REPORT_DATA computed with the openssl command line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"
#include "encoding.h"

#define ID "0123456789abcdef0123456789abcdef"
#define DIGEST "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static const struct e2e_aad aad = { .invocation_id = ID, .digest = DIGEST };
static const char input[] = "{\"canary\":\"input-canary-4711\"}";

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* Opens a message (a copy, maybe tampered with) and returns the result. */
typedef int (*open_fn)(const uint8_t *msg, size_t len, const void *ctx);

/* Every byte in [from, to) flipped, one at a time, makes open fail with want. */
static void flip_each(const uint8_t *msg, size_t len, size_t from, size_t to, open_fn open,
		      const void *ctx, int want)
{
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	for (size_t i = from; i < to; i++) {
		memcpy(copy, msg, len);
		copy[i] ^= 0x01;
		int r = open(copy, len, ctx);
		if (r != want)
			fail_msg("byte %zu flipped: got %d, wanted %d", i, r, want);
	}
	/* Cut short anywhere: malformed. */
	for (size_t n = 0; n < len; n += n < 128 ? 1 : 61)
		assert_int_equal(open(msg, n, ctx), -EBADMSG);
	free(copy);
}

/* ---- keys ---------------------------------------------------------- */

static void test_client_key_known_answer(void **state)
{
	/* openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:000102..1f
	 *   -kdfopt "info:ditto-e2e-v1 client$ID" HKDF, then its X25519 public
	 * key with openssl pkey -pubout. */
	uint8_t secret[E2E_KEY_SIZE];
	fill(secret, sizeof(secret), 0);
	struct e2e_keypair k, again, other;
	assert_int_equal(e2e_client_key(secret, ID, &k), 0);
	char h[2 * E2E_KEY_SIZE + 1];
	bytes_to_hex(k.priv, E2E_KEY_SIZE, h);
	assert_string_equal(h, "ea9e9324c36b3360e4ae359846c71ce3507dfdaad5eedde630ff5403b57ff5b7");
	bytes_to_hex(k.pub, E2E_KEY_SIZE, h);
	assert_string_equal(h, "d1bcd4751564f6e46f286e2db3005e183e3f26b9e5c4479240186bf13141f225");

	assert_int_equal(e2e_client_key(secret, ID, &again), 0);
	assert_memory_equal(&k, &again, sizeof(k));
	assert_int_equal(e2e_client_key(secret, ID "0", &other), 0);
	assert_memory_not_equal(k.pub, other.pub, E2E_KEY_SIZE);
	secret[0] ^= 1;
	assert_int_equal(e2e_client_key(secret, ID, &other), 0);
	assert_memory_not_equal(k.pub, other.pub, E2E_KEY_SIZE);
	assert_int_equal(e2e_client_key(NULL, ID, &other), -EINVAL);
	assert_int_equal(e2e_client_key(secret, NULL, &other), -EINVAL);
}

static void test_keypair_generate(void **state)
{
	struct e2e_keypair a, b;
	assert_int_equal(e2e_keypair_generate(&a), 0);
	assert_int_equal(e2e_keypair_generate(&b), 0);
	assert_memory_not_equal(a.priv, b.priv, E2E_KEY_SIZE);
	assert_memory_not_equal(a.pub, b.pub, E2E_KEY_SIZE);
	assert_int_equal(e2e_keypair_generate(NULL), -EINVAL);
}

static void test_report_data_known_answer(void **state)
{
	/* Bytes 0..63 through `openssl dgst -sha512`: a 32-byte nonce of
	 * 0..31 and a key of 32..63. */
	uint8_t nonce[32], pub[E2E_KEY_SIZE], rd[64];
	fill(nonce, sizeof(nonce), 0);
	fill(pub, sizeof(pub), 32);
	e2e_report_data(nonce, sizeof(nonce), pub, rd);
	char h[129];
	bytes_to_hex(rd, sizeof(rd), h);
	assert_string_equal(h, "ee4320ebaf3fdb4f2c832b137200c08e235e0fa7bbd0eb1740c7063ba8a0d151"
			       "da77e003398e1714a955d475b05e3e950b639503b452ec185de4229bc4873949");
	/* The nonce's length counts: a shorter nonce gives another value. */
	uint8_t rd2[64];
	e2e_report_data(nonce, 31, pub, rd2);
	assert_memory_not_equal(rd, rd2, sizeof(rd));
}

static void test_host_data_known_answer(void **state)
{
	/* openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:000102..1f
	 *   -kdfopt "info:ditto-e2e-v1 host-data" HKDF */
	uint8_t secret[E2E_KEY_SIZE], hd[32], again[32];
	fill(secret, sizeof(secret), 0);
	e2e_host_data(secret, hd);
	char h[65];
	bytes_to_hex(hd, sizeof(hd), h);
	assert_string_equal(h, "3ade2b4063d9ceacbc59c55e4b3b916e3bc97b481a176a9942b791c5b545a346");
	e2e_host_data(secret, again);
	assert_memory_equal(hd, again, sizeof(hd));
	/* Another secret, another commitment; and not the client key's HKDF. */
	secret[31] ^= 1;
	e2e_host_data(secret, again);
	assert_memory_not_equal(hd, again, sizeof(hd));
	struct e2e_keypair k;
	secret[31] ^= 1;
	assert_int_equal(e2e_client_key(secret, "", &k), 0);
	assert_memory_not_equal(hd, k.priv, sizeof(hd));
}

/* ---- artifacts ----------------------------------------------------- */

static int open_artifact(const uint8_t *msg, size_t len, const void *secret)
{
	uint8_t *plain = NULL;
	size_t n;
	int r = e2e_artifact_open(secret, msg, len, &plain, &n);
	free(plain);
	return r;
}

static void test_artifact_round_trip(void **state)
{
	static const char exe[] = "#!/bin/sh\necho artifact-canary-0815\n";
	uint8_t secret[E2E_KEY_SIZE], *sealed, *plain;
	size_t len, n;
	fill(secret, sizeof(secret), 7);
	assert_int_equal(e2e_artifact_seal(secret, exe, strlen(exe), &sealed, &len), 0);
	assert_int_equal(len, strlen(exe) + E2E_ARTIFACT_OVERHEAD);
	assert_memory_equal(sealed, "DTOA\x01\0\0\0", 8);
	assert_null(memmem(sealed, len, "canary", 6));
	assert_int_equal(e2e_artifact_open(secret, sealed, len, &plain, &n), 0);
	assert_int_equal(n, strlen(exe));
	assert_memory_equal(plain, exe, n);
	free(plain);

	/* Sealing twice gives different bytes (fresh salt and nonce). */
	uint8_t *again;
	size_t again_len;
	assert_int_equal(e2e_artifact_seal(secret, exe, strlen(exe), &again, &again_len), 0);
	assert_memory_not_equal(sealed, again, len);
	free(again);

	flip_each(sealed, len, 0, len, open_artifact, secret, -EBADMSG);
	uint8_t wrong[E2E_KEY_SIZE];
	memcpy(wrong, secret, sizeof(wrong));
	wrong[31] ^= 0x80;
	assert_int_equal(open_artifact(sealed, len, wrong), -EBADMSG);
	free(sealed);

	/* An empty artifact is still sealed and authenticated. */
	assert_int_equal(e2e_artifact_seal(secret, NULL, 0, &sealed, &len), 0);
	assert_int_equal(len, E2E_ARTIFACT_OVERHEAD);
	assert_int_equal(e2e_artifact_open(secret, sealed, len, &plain, &n), 0);
	assert_int_equal(n, 0);
	free(plain);
	free(sealed);
}

/* ---- requests ------------------------------------------------------ */

struct req_ctx {
	const struct e2e_keypair *vm;
	const struct e2e_aad *aad;
};

static int open_request(const uint8_t *msg, size_t len, const void *ctx)
{
	const struct req_ctx *c = ctx;
	uint8_t secret[E2E_KEY_SIZE], client_pub[E2E_KEY_SIZE], *plain = NULL;
	size_t n;
	int r = e2e_request_open(c->vm, c->aad, msg, len, secret, client_pub, &plain, &n);
	free(plain);
	return r;
}

/* Seals input to the n VM keys of vms with the client key of (secret, ID). */
static void seal_request(const struct e2e_keypair *vms, size_t n, const uint8_t *secret,
			 struct e2e_keypair *ret_client, uint8_t **ret, size_t *ret_len)
{
	uint8_t(*pubs)[E2E_KEY_SIZE] = calloc(n, E2E_KEY_SIZE);
	assert_non_null(pubs);
	for (size_t i = 0; i < n; i++)
		memcpy(pubs[i], vms[i].pub, E2E_KEY_SIZE);
	assert_int_equal(e2e_client_key(secret, ID, ret_client), 0);
	assert_int_equal(e2e_request_seal(ret_client, (const uint8_t(*)[E2E_KEY_SIZE])pubs, n,
					  secret, &aad, input, strlen(input), ret, ret_len),
			 0);
	free(pubs);
}

static void expect_request_opens(const struct e2e_keypair *vm, const uint8_t *msg, size_t len,
				 const uint8_t *secret, const struct e2e_keypair *client)
{
	uint8_t got_secret[E2E_KEY_SIZE], got_pub[E2E_KEY_SIZE], *plain;
	size_t n;
	assert_int_equal(e2e_request_open(vm, &aad, msg, len, got_secret, got_pub, &plain, &n), 0);
	assert_memory_equal(got_secret, secret, E2E_KEY_SIZE);
	assert_memory_equal(got_pub, client->pub, E2E_KEY_SIZE);
	assert_int_equal(n, strlen(input));
	assert_memory_equal(plain, input, n);
	free(plain);
}

static void test_request_one_recipient(void **state)
{
	struct e2e_keypair vm, client;
	uint8_t secret[E2E_KEY_SIZE], *msg;
	size_t len;
	fill(secret, sizeof(secret), 100);
	assert_int_equal(e2e_keypair_generate(&vm), 0);
	seal_request(&vm, 1, secret, &client, &msg, &len);
	assert_int_equal(len, 8 + 32 + 80 + 12 + 32 + strlen(input) + 16);
	assert_memory_equal(msg, "DTOQ\x01\x01\0\0", 8);
	assert_memory_equal(msg + 8, client.pub, E2E_KEY_SIZE);
	assert_memory_equal(msg + 40, vm.pub, E2E_KEY_SIZE);
	assert_null(memmem(msg, len, "canary", 6));
	expect_request_opens(&vm, msg, len, secret, &client);

	struct req_ctx c = { .vm = &vm, .aad = &aad };
	/* Header; client key; wrapped key; nonce, ciphertext and tag. */
	flip_each(msg, len, 0, 8, open_request, &c, -EBADMSG);
	flip_each(msg, len, 8, 40, open_request, &c, -EBADMSG);
	flip_each(msg, len, 72, len, open_request, &c, -EBADMSG);
	/* A changed VM key names someone else. */
	flip_each(msg, len, 40, 72, open_request, &c, -ENOKEY);

	struct e2e_aad other = { .invocation_id = ID "x", .digest = DIGEST };
	c.aad = &other;
	assert_int_equal(open_request(msg, len, &c), -EBADMSG);
	other = (struct e2e_aad){ .invocation_id = ID, .digest = "0" DIGEST };
	assert_int_equal(open_request(msg, len, &c), -EBADMSG);
	free(msg);
}

static void test_request_several_recipients(void **state)
{
	enum { N = 5 };
	struct e2e_keypair vms[N], client, stranger;
	uint8_t secret[E2E_KEY_SIZE], *msg;
	size_t len;
	fill(secret, sizeof(secret), 200);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(e2e_keypair_generate(&vms[i]), 0);
	seal_request(vms, N, secret, &client, &msg, &len);
	assert_int_equal(msg[5], N);
	for (size_t i = 0; i < N; i++)
		expect_request_opens(&vms[i], msg, len, secret, &client);

	assert_int_equal(e2e_keypair_generate(&stranger), 0);
	struct req_ctx c = { .vm = &stranger, .aad = &aad };
	assert_int_equal(open_request(msg, len, &c), -ENOKEY);
	/* The third VM's wrapped key, tampered, fails only for it. */
	size_t third = 8 + 32 + 2 * 80 + 32;
	msg[third + 5] ^= 0x40;
	c.vm = &vms[2];
	assert_int_equal(open_request(msg, len, &c), -EBADMSG);
	expect_request_opens(&vms[1], msg, len, secret, &client);
	free(msg);
}

static void test_request_limits(void **state)
{
	struct e2e_keypair vm, client;
	uint8_t secret[E2E_KEY_SIZE] = { 1 }, pubs[E2E_MAX_RECIPIENTS + 1][E2E_KEY_SIZE], *msg;
	size_t len;
	assert_int_equal(e2e_keypair_generate(&vm), 0);
	assert_int_equal(e2e_client_key(secret, ID, &client), 0);
	for (size_t i = 0; i <= E2E_MAX_RECIPIENTS; i++)
		memcpy(pubs[i], vm.pub, E2E_KEY_SIZE);
	const uint8_t(*p)[E2E_KEY_SIZE] = (const uint8_t(*)[E2E_KEY_SIZE])pubs;
	assert_int_equal(e2e_request_seal(&client, p, 0, secret, &aad, "x", 1, &msg, &len),
			 -EINVAL);
	assert_int_equal(e2e_request_seal(&client, p, E2E_MAX_RECIPIENTS + 1, secret, &aad, "x", 1,
					  &msg, &len),
			 -EINVAL);
	assert_int_equal(
		e2e_request_seal(&client, p, E2E_MAX_RECIPIENTS, secret, &aad, "x", 1, &msg, &len),
		0);
	free(msg);
	struct e2e_aad no_id = { .digest = DIGEST };
	assert_int_equal(e2e_request_seal(&client, p, 1, secret, &no_id, "x", 1, &msg, &len),
			 -EINVAL);
	/* A VM key of zeros (a low-order point) gives no shared secret. */
	uint8_t zero[1][E2E_KEY_SIZE] = { { 0 } };
	assert_int_equal(e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])zero, 1, secret,
					  &aad, "x", 1, &msg, &len),
			 -EINVAL);
	/* Empty input is fine. */
	assert_int_equal(e2e_request_seal(&client, p, 1, secret, &aad, NULL, 0, &msg, &len), 0);
	uint8_t s[E2E_KEY_SIZE], cp[E2E_KEY_SIZE], *plain;
	size_t n;
	assert_int_equal(e2e_request_open(&vm, &aad, msg, len, s, cp, &plain, &n), 0);
	assert_int_equal(n, 0);
	free(plain);
	free(msg);
}

/* What a VM gets to seal its response with: the key of the request's own
 * exchange, which the client's key pair opens as any response part. */
static void test_request_open_key(void **state)
{
	struct e2e_keypair vm, client, stranger;
	uint8_t secret[E2E_KEY_SIZE], got[E2E_KEY_SIZE], *msg, *plain, *part;
	size_t len, n, part_len;
	fill(secret, sizeof(secret), 50);
	assert_int_equal(e2e_keypair_generate(&vm), 0);
	seal_request(&vm, 1, secret, &client, &msg, &len);
	struct e2e_response_key k;
	assert_int_equal(e2e_request_open_key(&vm, &aad, msg, len, got, &k, &plain, &n), 0);
	assert_memory_equal(got, secret, E2E_KEY_SIZE);
	assert_int_equal(n, strlen(input));
	assert_memory_equal(plain, input, n);
	free(plain);
	assert_memory_equal(k.vm_pub, vm.pub, E2E_KEY_SIZE);

	assert_int_equal(
		e2e_response_seal_key(&k, &aad, E2E_PART_LOG, "a log", 5, &part, &part_len), 0);
	assert_int_equal(part_len, 5 + E2E_RESPONSE_OVERHEAD);
	assert_int_equal(e2e_response_open(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm.pub, 1, &aad,
					   E2E_PART_LOG, part, part_len, &plain, &n, NULL),
			 0);
	assert_memory_equal(plain, "a log", n);
	free(plain);
	free(part);
	assert_int_equal(e2e_response_seal_key(&k, &aad, 0, "x", 1, &part, &part_len), -EINVAL);

	assert_int_equal(e2e_keypair_generate(&stranger), 0);
	assert_int_equal(e2e_request_open_key(&stranger, &aad, msg, len, got, &k, &plain, &n),
			 -ENOKEY);
	msg[len - 1] ^= 1;
	assert_int_equal(e2e_request_open_key(&vm, &aad, msg, len, got, &k, &plain, &n), -EBADMSG);
	free(msg);
}

/* ---- responses ----------------------------------------------------- */

struct resp_ctx {
	const struct e2e_keypair *client;
	const uint8_t (*vm_pubs)[E2E_KEY_SIZE];
	size_t n;
	const struct e2e_aad *aad;
	enum e2e_part part;
};

static int open_response(const uint8_t *msg, size_t len, const void *ctx)
{
	const struct resp_ctx *c = ctx;
	uint8_t *plain = NULL;
	size_t n;
	int r = e2e_response_open(c->client, c->vm_pubs, c->n, c->aad, c->part, msg, len, &plain,
				  &n, NULL);
	free(plain);
	return r;
}

static void test_response_parts(void **state)
{
	static const char result[] = "output-canary-1234", log[] = "a log line\n";
	struct e2e_keypair vms[2], client, other;
	uint8_t secret[E2E_KEY_SIZE] = { 9 }, pubs[2][E2E_KEY_SIZE], *res, *lg, *plain;
	size_t res_len, lg_len, n, vm = 99;
	assert_int_equal(e2e_keypair_generate(&vms[0]), 0);
	assert_int_equal(e2e_keypair_generate(&vms[1]), 0);
	memcpy(pubs[0], vms[0].pub, E2E_KEY_SIZE);
	memcpy(pubs[1], vms[1].pub, E2E_KEY_SIZE);
	assert_int_equal(e2e_client_key(secret, ID, &client), 0);
	assert_int_equal(e2e_response_seal(&vms[1], client.pub, &aad, E2E_PART_RESULT, result,
					   strlen(result), &res, &res_len),
			 0);
	assert_int_equal(res_len, strlen(result) + E2E_RESPONSE_OVERHEAD);
	assert_memory_equal(res, "DTOS\x01\x01\0\0", 8);
	assert_null(memmem(res, res_len, "canary", 6));
	assert_int_equal(e2e_response_seal(&vms[1], client.pub, &aad, E2E_PART_LOG, log,
					   strlen(log), &lg, &lg_len),
			 0);
	const uint8_t(*p)[E2E_KEY_SIZE] = (const uint8_t(*)[E2E_KEY_SIZE])pubs;
	assert_int_equal(e2e_response_open(&client, p, 2, &aad, E2E_PART_RESULT, res, res_len,
					   &plain, &n, &vm),
			 0);
	assert_int_equal(vm, 1);
	assert_int_equal(n, strlen(result));
	assert_memory_equal(plain, result, n);
	free(plain);
	assert_int_equal(
		e2e_response_open(&client, p, 2, &aad, E2E_PART_LOG, lg, lg_len, &plain, &n, NULL),
		0);
	assert_memory_equal(plain, log, n);
	free(plain);

	struct resp_ctx c = { &client, p, 2, &aad, E2E_PART_LOG };
	/* The result cannot pass for the log, nor the log for the result. */
	assert_int_equal(open_response(res, res_len, &c), -EBADMSG);
	c.part = E2E_PART_RESULT;
	assert_int_equal(open_response(lg, lg_len, &c), -EBADMSG);
	flip_each(res, res_len, 0, res_len, open_response, &c, -EBADMSG);
	/* Sealed by a VM the client did not seal to. */
	c.n = 1;
	assert_int_equal(open_response(res, res_len, &c), -EBADMSG);
	c.n = 2;
	struct e2e_aad wrong = { .invocation_id = "another", .digest = DIGEST };
	c.aad = &wrong;
	assert_int_equal(open_response(res, res_len, &c), -EBADMSG);
	wrong = (struct e2e_aad){ .invocation_id = ID, .digest = "another" };
	assert_int_equal(open_response(res, res_len, &c), -EBADMSG);
	c.aad = &aad;
	assert_int_equal(e2e_client_key(secret, ID "1", &other), 0);
	c.client = &other;
	assert_int_equal(open_response(res, res_len, &c), -EBADMSG);

	c.client = &client;
	c.n = 0;
	assert_int_equal(open_response(res, res_len, &c), -EINVAL);
	c.n = E2E_MAX_RECIPIENTS + 1;
	assert_int_equal(open_response(res, res_len, &c), -EINVAL);
	assert_int_equal(e2e_response_seal(&vms[0], client.pub, &aad, 3, "x", 1, &plain, &n),
			 -EINVAL);
	free(res);
	free(lg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_key_known_answer),
		cmocka_unit_test(test_keypair_generate),
		cmocka_unit_test(test_report_data_known_answer),
		cmocka_unit_test(test_host_data_known_answer),
		cmocka_unit_test(test_artifact_round_trip),
		cmocka_unit_test(test_request_one_recipient),
		cmocka_unit_test(test_request_several_recipients),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_request_open_key),
		cmocka_unit_test(test_response_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
