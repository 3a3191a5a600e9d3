/* The guest daemon running end-to-end encrypted invocations: a sealed
 * artifact uploaded as any other, requests sealed to the key the daemon
 * reports in WIRE_ATTEST, result and log sealed to the client key; no
 * canary of the artifact, the input or the output in anything it sends;
 * requests it must refuse. */
#include "support/guest_harness.h"

#include "e2e.h"
#include "encoding.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

static const char script[] = "#!/bin/sh\n"
			     "# artifact-canary-A\n"
			     "read x\n"
			     "echo \"out-canary-B:$x\"\n"
			     "echo \"log-canary-C mode=$DITTO_MODE\" >&2\n";

static const char line_script[] = "#!/bin/sh\n"
				  "# artifact-canary-A\n"
				  "while read x; do echo \"$$:$x\"; done\n";

static const uint8_t secret[E2E_KEY_SIZE] = { 0x5e, 0xc7, 0xe7 };

/* The daemon's public key, from WIRE_ATTEST. */
static void vm_key(struct peer *p, uint8_t key[E2E_KEY_SIZE])
{
	struct guest_msg m;
	peer_call(p, WIRE_ATTEST, "{\"nonce\":\"a5\"}", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(hex_to_bytes(guest_msg_str(&m, "public_key"), key, E2E_KEY_SIZE), 0);
	guest_msg_free(&m);
}

/* The daemon's key, and text sealed with the tenant secret and uploaded. */
static void prepare(struct peer *p, const char *text, uint8_t vm[E2E_KEY_SIZE],
		    char digest[SHA256_HEX_SIZE])
{
	vm_key(p, vm);
	peer_put_sealed(p, secret, text, digest);
}

static void invoke_sealed(struct peer *p, const uint8_t vm[E2E_KEY_SIZE], const uint8_t *sec,
			  const char *digest, const char *id, const char *extra, const char *input,
			  struct guest_msg *ret)
{
	peer_invoke_sealed(p, vm, sec, digest, id, extra, input, WIRE_REPLY, ret);
}

/* Opens one part of a reply's body with the client key of (secret, id). */
static char *open_part(const struct guest_msg *m, const uint8_t vm[E2E_KEY_SIZE],
		       const char *digest, const char *id, enum e2e_part part)
{
	struct e2e_keypair client;
	assert_int_equal(e2e_client_key(secret, id, &client), 0);
	const struct e2e_aad aad = { .invocation_id = id, .digest = digest };
	size_t result_len = (size_t)guest_msg_int(m, "result_len");
	assert_true(result_len <= m->body_len);
	const uint8_t *p = part == E2E_PART_RESULT ? m->body : m->body + result_len;
	size_t n = part == E2E_PART_RESULT ? result_len : m->body_len - result_len;
	uint8_t *plain;
	size_t plain_len;
	assert_int_equal(e2e_response_open(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, &aad,
					   part, p, n, &plain, &plain_len, NULL),
			 0);
	char *s = malloc(plain_len + 1);
	assert_non_null(s);
	memcpy(s, plain, plain_len);
	s[plain_len] = '\0';
	free(plain);
	return s;
}

static void expect_part(const struct guest_msg *m, const uint8_t vm[E2E_KEY_SIZE],
			const char *digest, const char *id, enum e2e_part part, const char *want)
{
	char *s = open_part(m, vm, digest, id, part);
	assert_string_equal(s, want);
	free(s);
}

static void expect_no_canary(const struct guest_msg *m)
{
	assert_null(memmem(m->body, m->body_len, "canary", 6));
	char *meta = json_dumps(m->meta, 0);
	assert_null(strstr(meta, "canary"));
	free(meta);
}

static void test_e2e_process(void **state)
{
	struct peer *p = *state;
	uint8_t vm[E2E_KEY_SIZE];
	char digest[SHA256_HEX_SIZE];
	prepare(p, script, vm, digest);
	struct guest_msg m;
	invoke_sealed(p, vm, secret, digest, ID1, "", "input-canary-D\n", &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	expect_no_canary(&m);
	expect_part(&m, vm, digest, ID1, E2E_PART_RESULT, "out-canary-B:input-canary-D\n");
	expect_part(&m, vm, digest, ID1, E2E_PART_LOG, "log-canary-C mode=process\n");
	guest_msg_free(&m);

	/* The opened executable is private to the guest daemon. */
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/%s", p->plain, digest);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(p->plain, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	/* A second invocation uses it as it is, with its own client key. */
	invoke_sealed(p, vm, secret, digest, ID2, "", "again", &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	expect_part(&m, vm, digest, ID2, E2E_PART_RESULT, "out-canary-B:again\n");
	struct e2e_keypair first;
	assert_int_equal(e2e_client_key(secret, ID1, &first), 0);
	uint8_t *plain;
	size_t n;
	const struct e2e_aad aad1 = { .invocation_id = ID1, .digest = digest };
	assert_int_equal(e2e_response_open(&first, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, &aad1,
					   E2E_PART_RESULT, m.body,
					   (size_t)guest_msg_int(&m, "result_len"), &plain, &n,
					   NULL),
			 -EBADMSG);
	guest_msg_free(&m);
}

static void test_e2e_persistent(void **state)
{
	struct peer *p = *state;
	uint8_t vm[E2E_KEY_SIZE];
	char digest[SHA256_HEX_SIZE];
	prepare(p, line_script, vm, digest);
	struct guest_msg m1, m2;
	invoke_sealed(p, vm, secret, digest, ID1, "\"mode\":\"persistent\"", "one", &m1);
	assert_string_equal(guest_msg_str(&m1, "status"), "ok");
	assert_true(guest_msg_bool(&m1, "cold_start"));
	invoke_sealed(p, vm, secret, digest, ID2, "\"mode\":\"persistent\"", "two", &m2);
	assert_string_equal(guest_msg_str(&m2, "status"), "ok");
	assert_false(guest_msg_bool(&m2, "cold_start"));
	char *r1 = open_part(&m1, vm, digest, ID1, E2E_PART_RESULT);
	char *r2 = open_part(&m2, vm, digest, ID2, E2E_PART_RESULT);
	/* One process served both: "<pid>:<input>". */
	assert_string_equal(strchr(r1, ':'), ":one");
	assert_string_equal(strchr(r2, ':'), ":two");
	assert_int_equal(strtol(r1, NULL, 10), strtol(r2, NULL, 10));
	free(r1);
	free(r2);
	guest_msg_free(&m1);
	guest_msg_free(&m2);
	/* The plain input is checked as any persistent input. */
	peer_invoke_sealed(p, vm, secret, digest, ID1, "\"mode\":\"persistent\"", "a\nb",
			   WIRE_ERROR, &m1);
	assert_string_equal(guest_msg_str(&m1, "code"), "bad_input");
	guest_msg_free(&m1);
}

/* The invocation failed before running, with this error and no output. */
static void expect_refused(const struct guest_msg *m, const char *error_prefix)
{
	assert_string_equal(guest_msg_str(m, "status"), "error");
	const char *error = guest_msg_str(m, "error");
	if (strncmp(error, error_prefix, strlen(error_prefix)) != 0)
		fail_msg("error \"%s\", wanted \"%s...\"", error, error_prefix);
	assert_int_equal(guest_msg_int(m, "result_len"), 0);
	assert_int_equal(m->body_len, 0);
}

static void test_e2e_refused(void **state)
{
	struct peer *p = *state;
	uint8_t vm[E2E_KEY_SIZE], other_secret[E2E_KEY_SIZE] = { 1, 2, 3 };
	char digest[SHA256_HEX_SIZE];
	prepare(p, script, vm, digest);
	struct guest_msg m;

	/* Sealed to another VM's key. */
	struct e2e_keypair other;
	assert_int_equal(e2e_keypair_generate(&other), 0);
	invoke_sealed(p, other.pub, secret, digest, ID1, "", "x", &m);
	expect_refused(&m, "e2e: not sealed to this VM's key (attest again)");
	guest_msg_free(&m);

	/* Sealed for another invocation id than the one it travels with. */
	uint8_t *req;
	size_t len;
	guest_seal_request(vm, secret, digest, ID1, "x", &req, &len);
	char meta[512];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true,\"invocation\":\"%s\"}",
		 digest, ID2);
	peer_call(p, WIRE_INVOKE, meta, req, len, WIRE_REPLY, &m);
	expect_refused(&m, "e2e: cannot open the request (");
	guest_msg_free(&m);

	/* Tampered with: its last byte (the tag) flipped. */
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true,\"invocation\":\"%s\"}",
		 digest, ID1);
	req[len - 1] ^= 1;
	peer_call(p, WIRE_INVOKE, meta, req, len, WIRE_REPLY, &m);
	expect_refused(&m, "e2e: cannot open the request (");
	guest_msg_free(&m);
	peer_call(p, WIRE_INVOKE, meta, "plain", 5, WIRE_REPLY, &m);
	expect_refused(&m, "e2e: cannot open the request (");
	guest_msg_free(&m);
	free(req);

	/* A genuine request with another tenant's secret: the artifact does
	 * not open with it, before or after the right one opened it. */
	invoke_sealed(p, vm, other_secret, digest, ID1, "", "x", &m);
	expect_refused(&m, "e2e: cannot open the artifact (");
	guest_msg_free(&m);
	invoke_sealed(p, vm, secret, digest, ID1, "", "x", &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	guest_msg_free(&m);
	invoke_sealed(p, vm, other_secret, digest, ID2, "", "x", &m);
	expect_refused(&m, "e2e: cannot open the artifact (");
	guest_msg_free(&m);

	/* An encrypted invocation needs its id. */
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":1,\"invocation\":\"a\"}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "bad_request");
	peer_ping(p);
}

#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup_active, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		GUEST_TEST(test_e2e_process),
		GUEST_TEST(test_e2e_persistent),
		GUEST_TEST(test_e2e_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
