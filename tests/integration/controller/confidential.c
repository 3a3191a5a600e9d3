/* Confidential tenants through the platform: an invocation under an id its
 * caller chose, and the attestation route on a real VM. Without SEV-SNP
 * hardware the guest's evidence is of type none, which the controller
 * reports as proving nothing. */
#include "controller.h"

#include <stdio.h>
#include <string.h>

#define CHOSEN_ID "00112233445566778899aabbccddeeff"
#define NONCE "000102030405060708090a0b0c0d0e0f"

/* A plain function invoked with X-Ditto-Invocation-Id runs under that id,
 * and its record is read under it; the id is then taken. */
void test_chosen_invocation_id(void **state)
{
	await_host("up");
	char key[128];
	tenant("chosen", NULL, key);
	deploy(key, "echo", "echo", NULL);
	struct http_reply r;
	assert_int_equal(http_call_header(P.controller.url, key,
					  "X-Ditto-Invocation-Id: " CHOSEN_ID, "POST",
					  "/v1/functions/echo/invoke", "{\"x\":1}", 7, &r),
			 200);
	assert_string_equal(r.id, CHOSEN_ID);
	assert_string_equal(r.content_type, "application/json");
	assert_memory_equal(r.body.data, "{\"x\":1}", 7);
	http_reply_free(&r);
	json_t *rec = await_record(key, CHOSEN_ID);
	assert_string_equal(str(rec, "id"), CHOSEN_ID);
	assert_string_equal(str(rec, "status"), "ok");
	assert_string_equal(str(rec, "result"), "{\"x\":1}");
	json_decref(rec);
	assert_int_equal(http_call_header(P.controller.url, key,
					  "X-Ditto-Invocation-Id: " CHOSEN_ID, "POST",
					  "/v1/functions/echo/invoke", "{}", 2, &r),
			 409);
	assert_string_equal(http_error_code(&r), "exists");
	http_reply_free(&r);
}

/* The attestation route on a real VM under TCG: one VM, evidence of type
 * none with the guest's public key, never verified. */
void test_attestation_none(void **state)
{
	await_host("up");
	char key[128];
	tenant("attested", NULL, key);
	struct http_reply r;
	/* The tenant has no VM yet: the route places one first. */
	assert_int_equal(
		call_s(key, "GET", "/v1/tenants/attested/attestation?nonce=" NONCE, NULL, &r), 200);
	assert_string_equal(str(r.json, "tenant"), "attested");
	assert_string_equal(str(r.json, "nonce"), NONCE);
	assert_string_equal(str(r.json, "confidential"), "none");
	assert_string_equal(str(r.json, "attestation"), "optional");
	json_t *vms = json_object_get(r.json, "vms");
	assert_int_equal(json_array_size(vms), 1);
	json_t *vm = json_array_get(vms, 0);
	assert_string_equal(str(vm, "vm"), "attested");
	assert_string_equal(str(vm, "host"), "h1");
	assert_string_equal(str(vm, "type"), "none");
	const char *pub = str(vm, "public_key");
	assert_non_null(pub);
	assert_int_equal(strspn(pub, "0123456789abcdef"), 64);
	assert_int_equal(strlen(pub), 64);
	assert_true(json_is_null(json_object_get(vm, "report")));
	json_t *v = json_object_get(vm, "verified");
	assert_true(json_is_false(json_object_get(v, "ok")));
	assert_string_equal(str(v, "code"), "evidence_none");
	assert_non_null(strstr(str(v, "message"), "NOT CONFIDENTIAL"));
	char first_key[65];
	snprintf(first_key, sizeof(first_key), "%s", pub);
	http_reply_free(&r);
	/* The guest keeps its key for its life: asked again, the same. */
	assert_int_equal(call_s(key, "GET", "/v1/tenants/attested/attestation?nonce=ff", NULL, &r),
			 200);
	vm = json_array_get(json_object_get(r.json, "vms"), 0);
	assert_string_equal(str(vm, "public_key"), first_key);
	http_reply_free(&r);
}
