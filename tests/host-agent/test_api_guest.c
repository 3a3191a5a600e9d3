/* The routes that reach a guest, over HTTP, against a VM whose guest
 * channel ends in the fake guest: attestation (the evidence relayed as the
 * API promises, the nonce passed through, the guest's refusals) and the
 * invocation parameters passed through to the guest as INVOKE meta (the
 * runtime and handler too, and the runtimes a VM's image cannot run
 * refused), and the bare ping round trip. The
 * server, the channel and the fake guest share one loop on its own thread;
 * the test calls the API with libcurl. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "encoding.h"
#include "fakes/api_rig.h"
#include "support/http.h"

#define ID "0123456789abcdef0123456789abcdef"

struct fixture {
	/* First, for api_vm_rig_teardown; its image has a runtime disk unless a
	 * test drops it. */
	struct api_vm_rig r;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	api_vm_rig_open(&fx->r, "api-guest", "#!/bin/sh\necho '{}'\n", 16);
	strcpy(fx->r.image.runtime, "/images/runtime.img");
	struct api_server_config cfg = api_rig_config();
	cfg.max_input = 1 << 20;
	cfg.max_artifact = 1 << 20;
	cfg.max_inflight = 16;
	api_vm_rig_start(&fx->r, &cfg, NULL, NULL);
	*state = fx;
	return 0;
}

/* GET path; the reply in r (freed by the caller); returns its status. */
static long get(struct fixture *fx, const char *path, struct http_reply *r)
{
	return http_call(fx->r.srv.url, NULL, "GET", path, NULL, 0, r);
}

static void expect_error(struct fixture *fx, const char *method, const char *path, long status,
			 const char *code)
{
	struct http_reply r;
	assert_int_equal(http_call(fx->r.srv.url, NULL, method, path, "{}", 2, &r), status);
	assert_string_equal(http_error_code(&r), code);
	http_reply_free(&r);
}

/* The last frame the guest got, which must be of type. */
static json_t *last_frame(struct fixture *fx, uint8_t type)
{
	const struct fake_guest_frame *f = fake_guest_frame(&fx->r.guest, fx->r.guest.n_frames - 1);
	assert_int_equal(f->type, type);
	return f->meta;
}

/* A guest without SNP: evidence of type none, its key, the nonce passed
 * through as the guest expects it. */
static void test_attest_none(void **state)
{
	struct fixture *fx = *state;
	struct http_reply r;
	assert_int_equal(get(fx, "/v1/vms/t1/attestation?nonce=00FFa1", &r), 200);
	json_t *o = r.json;
	assert_string_equal(json_string_value(json_object_get(o, "vm")), "t1");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "none");
	assert_string_equal(json_string_value(json_object_get(o, "public_key")),
			    FAKE_GUEST_PUBLIC_KEY);
	assert_true(json_is_null(json_object_get(o, "report")));
	assert_true(json_is_null(json_object_get(o, "certs")));
	assert_true(json_is_null(json_object_get(o, "measurement")));
	assert_true(json_is_false(json_object_get(o, "confidential")));
	http_reply_free(&r);
	json_t *meta = last_frame(fx, WIRE_ATTEST);
	assert_string_equal(json_string_value(json_object_get(meta, "nonce")), "00ffa1");
}

/* Base64 of o[key] decodes to len bytes of value c. */
static void expect_bytes(json_t *o, const char *key, uint8_t c, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	assert_non_null(s);
	uint8_t *p;
	size_t n;
	assert_int_equal(base64_decode(s, strlen(s), &p, &n), 0);
	assert_int_equal(n, len);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], c);
	free(p);
}

/* SNP evidence: the body split at report_len into the report and the
 * host's certificate table; the VM's expected digest beside them. */
static void test_attest_snp(void **state)
{
	struct fixture *fx = *state;
	uint8_t body[1184 + 300];
	memset(body, 0xab, 1184);
	memset(body + 1184, 0xcd, 300);
	fake_guest_on_body(&fx->r.guest, WIRE_ATTEST,
			   "{\"type\":\"sev-snp\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY
			   "\",\"report_len\":1184}",
			   body, sizeof(body));
	memset(fx->r.vm->measurement, 'e', SNP_DIGEST_HEX_SIZE - 1);
	struct http_reply r;
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/t1/attestation?nonce=%0128d", 7);
	assert_int_equal(get(fx, path, &r), 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "type")), "sev-snp");
	assert_true(json_is_true(json_object_get(r.json, "confidential")));
	expect_bytes(r.json, "report", 0xab, 1184);
	expect_bytes(r.json, "certs", 0xcd, 300);
	assert_string_equal(json_string_value(json_object_get(r.json, "measurement")),
			    fx->r.vm->measurement);
	http_reply_free(&r);

	/* Without a certificate table, certs is null. */
	fake_guest_on_body(&fx->r.guest, WIRE_ATTEST,
			   "{\"type\":\"sev-snp\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY
			   "\",\"report_len\":1184}",
			   body, 1184);
	assert_int_equal(get(fx, "/v1/vms/t1/attestation?nonce=01", &r), 200);
	expect_bytes(r.json, "report", 0xab, 1184);
	assert_true(json_is_null(json_object_get(r.json, "certs")));
	http_reply_free(&r);
}

static void test_attest_errors(void **state)
{
	struct fixture *fx = *state;
	char path[256];
	snprintf(path, sizeof(path), "/v1/vms/t1/attestation?nonce=%0130d", 7); /* 65 bytes */
	const char *bad[] = { "/v1/vms/t1/attestation",
			      "/v1/vms/t1/attestation?nonce=", "/v1/vms/t1/attestation?nonce=abc",
			      "/v1/vms/t1/attestation?nonce=zz", path };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(fx, "GET", bad[i], 400, "bad_parameter");
	assert_int_equal(fake_guest_count(&fx->r.guest, WIRE_ATTEST), 0);
	expect_error(fx, "GET", "/v1/vms/t2/attestation?nonce=00", 404, "no_vm");

	/* The guest's refusal, and evidence that does not say what it must. */
	fake_guest_on_error(&fx->r.guest, WIRE_ATTEST, "attest_failed");
	struct http_reply r;
	assert_int_equal(get(fx, "/v1/vms/t1/attestation?nonce=00", &r), 502);
	assert_string_equal(http_error_code(&r), "guest_error");
	assert_non_null(strstr(
		json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
		"attest_failed"));
	http_reply_free(&r);
	const char *malformed[] = {
		"{\"type\":\"tdx\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY "\"}",
		"{\"type\":\"none\",\"public_key\":\"abcd\"}",
		"{\"type\":\"sev-snp\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY "\"}",
		"{\"type\":\"sev-snp\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY
		"\",\"report_len\":5000}",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		/* (sev-snp with an empty body has no report) */
		fake_guest_on_body(&fx->r.guest, WIRE_ATTEST, malformed[i], "xyz", i < 3 ? 0 : 3);
		expect_error(fx, "GET", "/v1/vms/t1/attestation?nonce=00", 502, "guest_error");
	}
	fx->r.vm->state = VM_BOOTING;
	expect_error(fx, "GET", "/v1/vms/t1/attestation?nonce=00", 503, "vm_not_ready");
}

/* invocation and e2e reach the guest as INVOKE meta, and only when given. */
static void test_invoke_passthrough(void **state)
{
	struct fixture *fx = *state;
	fake_guest_on(&fx->r.guest, WIRE_INVOKE, "{\"status\":\"ok\",\"result_len\":0}");
	char path[256];
	struct http_reply r;
	snprintf(path, sizeof(path), "/v1/vms/t1/invoke?artifact=%s&invocation=" ID "&e2e=1",
		 fx->r.digest);
	assert_int_equal(http_call(fx->r.srv.url, NULL, "POST", path, "in", 2, &r), 200);
	http_reply_free(&r);
	json_t *meta = last_frame(fx, WIRE_INVOKE);
	assert_string_equal(json_string_value(json_object_get(meta, "invocation")), ID);
	assert_true(json_is_true(json_object_get(meta, "e2e")));

	snprintf(path, sizeof(path), "/v1/vms/t1/invoke?artifact=%s&e2e=0", fx->r.digest);
	assert_int_equal(http_call(fx->r.srv.url, NULL, "POST", path, "in", 2, &r), 200);
	http_reply_free(&r);
	meta = last_frame(fx, WIRE_INVOKE);
	assert_null(json_object_get(meta, "invocation"));
	assert_null(json_object_get(meta, "e2e"));

	const char *bad[] = { "&invocation=0123",
			      "&invocation=" ID "0",
			      "&invocation=0123456789ABCDEF0123456789abcdef",
			      "&e2e=2",
			      "&e2e=true",
			      "&e2e=" };
	size_t frames = fx->r.guest.n_frames;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/v1/vms/t1/invoke?artifact=%s%s", fx->r.digest,
			 bad[i]);
		expect_error(fx, "POST", path, 400, "bad_parameter");
	}
	assert_int_equal(fx->r.guest.n_frames, frames);
}

/* Invokes with the query's rest after the artifact; returns the status. */
static long invoke_with(struct fixture *fx, const char *rest, struct http_reply *r)
{
	char path[512];
	snprintf(path, sizeof(path), "/v1/vms/t1/invoke?artifact=%s%s", fx->r.digest, rest);
	return http_call(fx->r.srv.url, NULL, "POST", path, "{}", 2, r);
}

/* The INVOKE the guest got for a call with rest has runtime and handler
 * (NULL: absent). */
static void expect_meta(struct fixture *fx, const char *rest, const char *runtime,
			const char *handler)
{
	struct http_reply r;
	assert_int_equal(invoke_with(fx, rest, &r), 200);
	http_reply_free(&r);
	json_t *meta = last_frame(fx, WIRE_INVOKE);
	const char *rt = json_string_value(json_object_get(meta, "runtime"));
	const char *h = json_string_value(json_object_get(meta, "handler"));
	assert_true(runtime ? rt && strcmp(rt, runtime) == 0 : !json_object_get(meta, "runtime"));
	assert_true(handler ? h && strcmp(h, handler) == 0 : !json_object_get(meta, "handler"));
}

/* The call with rest is refused with status and code, and reaches no guest;
 * the message holds want. */
static void expect_refusal(struct fixture *fx, const char *rest, long status, const char *code,
			   const char *want)
{
	struct http_reply r;
	size_t frames = fx->r.guest.n_frames;
	assert_int_equal(invoke_with(fx, rest, &r), status);
	assert_string_equal(http_error_code(&r), code);
	const char *msg = json_string_value(
		json_object_get(json_object_get(r.json, "error"), "message"));
	if (!msg || !strstr(msg, want))
		fail_msg("%s: %s", rest, msg ? msg : "(no message)");
	http_reply_free(&r);
	assert_int_equal(fx->r.guest.n_frames, frames);
}

/* runtime and handler reach the guest for python3 and nodejs only; bad
 * ones are a 400 and a runtime the VM's image lacks a 409. */
static void test_invoke_runtime(void **state)
{
	struct fixture *fx = *state;
	fake_guest_on(&fx->r.guest, WIRE_INVOKE, "{\"status\":\"ok\",\"result_len\":0}");
	expect_meta(fx, "&runtime=python3&handler=pkg.mod.fn", "python3", "pkg.mod.fn");
	expect_meta(fx, "&runtime=python3", "python3", NULL);
	expect_meta(fx, "&runtime=nodejs&handler=lib/util.$main", "nodejs", "lib/util.$main");
	expect_meta(fx, "&runtime=nodejs&handler=", "nodejs", NULL);
	expect_meta(fx, "&runtime=binary", NULL, NULL);
	expect_meta(fx, "&runtime=shell&mode=persistent", NULL, NULL);
	expect_meta(fx, "", NULL, NULL);

	char long_handler[200] = "&runtime=python3&handler=";
	memset(long_handler + strlen(long_handler), 'a', 129);
	const char *bad[] = { "&runtime=ruby",
			      "&runtime=",
			      "&runtime=Python3",
			      "&handler=main",
			      "&runtime=binary&handler=main",
			      "&runtime=shell&handler=main",
			      "&runtime=python3&handler=a..b",
			      "&runtime=python3&handler=1mod",
			      "&runtime=nodejs&handler=../up.main",
			      "&runtime=nodejs&handler=/abs.main",
			      "&runtime=nodejs&handler=a//b.main",
			      long_handler };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refusal(fx, bad[i], 400, "bad_parameter", i < 3 ? "runtime" : "handler");
	/* Checked before the VM is looked for. */
	expect_error(fx, "POST", "/v1/vms/t9/invoke?artifact=" ID ID "&runtime=ruby", 400,
		     "bad_parameter");

	/* A VM of an image without the runtime disk: binary still runs. */
	fx->r.image.runtime[0] = '\0';
	expect_refusal(fx, "&runtime=python3", 409, "unsupported",
		       "runtime python3 is not in this host's guest image (image.json has no "
		       "runtime disk)");
	expect_refusal(fx, "&runtime=nodejs&handler=main", 409, "unsupported",
		       "runtime nodejs is not in this host's guest image");
	expect_meta(fx, "&runtime=binary", NULL, NULL);
	/* An SEV-SNP VM gets the disk too (its guest reads it through
	 * dm-verity). */
	strcpy(fx->r.image.runtime, "/images/runtime.img");
	fx->r.vm->spec.confidential = CONFIDENTIAL_SEV_SNP;
	expect_meta(fx, "&runtime=nodejs", "nodejs", NULL);
}

/* ping: count pings sent one after another, one round trip each; a count
 * out of range refused before any is sent; the guest's refusal relayed. */
static void test_ping(void **state)
{
	struct fixture *fx = *state;
	struct http_reply r;
	assert_int_equal(
		http_call(fx->r.srv.url, NULL, "POST", "/v1/vms/t1/ping?count=3", NULL, 0, &r),
		200);
	json_t *rtt = json_object_get(r.json, "rtt_us");
	assert_int_equal(json_array_size(rtt), 3);
	assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(json_is_integer(json_array_get(rtt, i)) &&
			    json_integer_value(json_array_get(rtt, i)) >= 0);
	http_reply_free(&r);
	assert_int_equal(fake_guest_count(&fx->r.guest, WIRE_PING), 3);
	const char *bad[] = { "/v1/vms/t1/ping?count=0", "/v1/vms/t1/ping?count=1001",
			      "/v1/vms/t1/ping?count=x", "/v1/vms/t1/ping?count=" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(fx, "POST", bad[i], 400, "bad_parameter");
	assert_int_equal(fake_guest_count(&fx->r.guest, WIRE_PING), 3);
	expect_error(fx, "POST", "/v1/vms/t2/ping", 404, "no_vm");
	fake_guest_on_error(&fx->r.guest, WIRE_PING, "bad_request");
	expect_error(fx, "POST", "/v1/vms/t1/ping", 502, "guest_error");
	fx->r.vm->state = VM_BOOTING;
	expect_error(fx, "POST", "/v1/vms/t1/ping", 503, "vm_not_ready");
}

#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, api_vm_rig_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_attest_none),    FIXTURE_TEST(test_attest_snp),
		FIXTURE_TEST(test_attest_errors),  FIXTURE_TEST(test_invoke_passthrough),
		FIXTURE_TEST(test_invoke_runtime), FIXTURE_TEST(test_ping),
	};
	return cmocka_run_group_tests_name("api_guest", tests, NULL, NULL);
}
