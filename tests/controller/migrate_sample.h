/* A store with every kind of row (tenants with default and confidential scaling, admin,
 * tenant and revoked keys, live, deleted and collected artifacts and functions, versions of
 * each runtime, invocations in every state with binary payloads, hosts up, down and
 * draining) and its artifacts' bytes (files named by their SHA-256, and the store's chunks
 * where it keeps them; one artifact spans several chunks). For the tests of
 * `ditto-controller migrate`. */
#ifndef DITTO_TESTS_MIGRATE_SAMPLE_H
#define DITTO_TESTS_MIGRATE_SAMPLE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "sha256.h"
#include "store.h"
#include "util.h"

#define SAMPLE_INVOCATIONS 5
#define SAMPLE_ARTIFACTS 3

/* What the sample made that only its maker knows: key tokens and invocation ids. */
struct sample {
	char admin[STORE_TOKEN_SIZE], acme[STORE_TOKEN_SIZE], revoked[STORE_TOKEN_SIZE];
	char ids[SAMPLE_INVOCATIONS][STORE_ID_SIZE];
	/* Artifacts A (2.5 chunks), B and C (collected: no bytes any more). */
	char digest[SAMPLE_ARTIFACTS][STORE_DIGEST_SIZE];
	size_t size[SAMPLE_ARTIFACTS];
};

/* Every byte value, NUL included: payloads must come back as the same bytes. */
static void sample_bytes(uint8_t out[300], uint8_t salt)
{
	for (int i = 0; i < 300; i++)
		out[i] = (uint8_t)(i + salt);
}

static void sample_tenants(struct store *s, struct sample *x)
{
	assert_int_equal(store_key_create(s, NULL, x->admin), 0);
	assert_int_equal(store_tenant_create_with_key(s, "acme", NULL, NULL, NULL, x->acme), 0);
	assert_int_equal(store_key_create(s, "acme", x->revoked), 0);
	char key_id[STORE_KEY_ID_SIZE];
	snprintf(key_id, sizeof(key_id), "%.*s", STORE_KEY_ID_SIZE - 1, x->revoked);
	assert_int_equal(store_key_revoke(s, "acme", key_id), 0);
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	struct store_scaling sc = STORE_SCALING_DEFAULT;
	sc.min_workers = 1;
	sc.max_workers = 8;
	sc.concurrency = 7;
	snprintf(sc.policy, sizeof(sc.policy), "fixed:4");
	snprintf(sc.confidential, sizeof(sc.confidential), "sev-snp");
	snprintf(sc.attestation, sizeof(sc.attestation), "required");
	memset(sc.host_data, 'e', STORE_HOST_DATA_SIZE - 1);
	assert_int_equal(store_tenant_set_scaling(s, "beta", &sc), 0);
}

/* Artifact i's bytes: a pattern of size bytes. Returns a malloc'd buffer. */
static uint8_t *sample_artifact(int i, size_t size)
{
	uint8_t *p = malloc(size);
	assert_non_null(p);
	for (size_t k = 0; k < size; k++)
		p[k] = (uint8_t)(k * 7 + k / 251 + (size_t)i);
	return p;
}

/* Writes the artifacts' files into dir, and their bytes into s where it keeps them. */
static void sample_artifacts(struct store *s, struct sample *x, const char *dir)
{
	const size_t sizes[SAMPLE_ARTIFACTS] = { 5u << 19, 1000, 30 };
	struct db db = { .store = s };
	pthread_mutex_init(&db.lock, NULL);
	for (int i = 0; i < SAMPLE_ARTIFACTS; i++) {
		uint8_t *p = sample_artifact(i, sizes[i]);
		x->size[i] = sizes[i];
		sha256_hex(p, sizes[i], x->digest[i]);
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, x->digest[i]);
		FILE *f = fopen(path, "we");
		assert_non_null(f);
		assert_int_equal(fwrite(p, 1, sizes[i], f), sizes[i]);
		assert_int_equal(fclose(f), 0);
		free(p);
		assert_int_equal(db_artifact_share(&db, x->digest[i], path), 0);
	}
	pthread_mutex_destroy(&db.lock);
}

static void sample_functions(struct store *s, const struct sample *x, const char *dir)
{
	struct store_limits plain = { 1000, 128, 4, "process", false, FN_RUNTIME_BINARY, "" };
	struct store_limits python = { 5000,          256,  2,
				       "persistent",  true, FN_RUNTIME_PYTHON3,
				       "main.handler" };
	const char *const *d = (const char *const[]){ x->digest[0], x->digest[1], x->digest[2] };
	int64_t v;
	assert_int_equal(store_function_put(s, "acme", "echo", d[0], x->size[0], &plain, &v), 0);
	assert_int_equal(store_function_put(s, "acme", "echo", d[1], x->size[1], &python, &v), 0);
	/* A deleted function whose artifact was collected, file and all. */
	assert_int_equal(store_function_put(s, "acme", "gone", d[2], x->size[2], &plain, &v), 0);
	assert_int_equal(store_function_delete(s, "acme", "gone"), 0);
	assert_int_equal(store_artifact_collect(s, d[2]), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, d[2]);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_function_put(s, "beta", "f", d[0], x->size[0], &plain, &v), 0);
}

static void sample_invocations(struct store *s, struct sample *x)
{
	uint8_t in[300], out[300], log[300];
	sample_bytes(in, 0);
	sample_bytes(out, 7);
	sample_bytes(log, 99);
	char **ids = (char *[]){ x->ids[0], x->ids[1], x->ids[2], x->ids[3], x->ids[4] };
	/* Queued, with its input. */
	assert_int_equal(store_invocation_create(s, "acme", "echo", 2, true, in, 300, ids[0]), 0);
	/* A synchronous one that ran, with everything an outcome holds. */
	assert_int_equal(store_invocation_new_id(ids[1]), 0);
	assert_int_equal(store_invocation_create_running(s, ids[1], 1700000000123, "acme", "echo",
							 1, "h1", "acme"),
			 0);
	struct store_outcome ok = { .status = STORE_OK,
				    .result = out,
				    .result_len = 300,
				    .log = log,
				    .log_len = 300,
				    .queued_us = 11,
				    .cold_start_us = 22,
				    .exec_us = 33,
				    .total_us = 66,
				    .cold_start = true,
				    .cpu = 1,
				    .has_vcpu = true,
				    .workers = 2,
				    .vcpu_alloc_ms = 1234,
				    .vcpu_busy_ms = 567 };
	assert_int_equal(store_invocation_finish(s, ids[1], &ok), 0);
	/* Failed with an exception, requeued once, timed out. */
	for (int i = 2; i < SAMPLE_INVOCATIONS; i++) {
		assert_int_equal(store_invocation_create(s, "beta", "f", 1, true, in, 5, ids[i]),
				 0);
		assert_int_equal(store_invocation_start(s, ids[i], "h2", "beta", i), 0);
	}
	struct store_outcome failed = {
		.status = STORE_ERROR,
		.error = "the function raised",
		.exception = "{\"type\":\"ValueError\",\"message\":\"no\"}"
	};
	assert_int_equal(store_invocation_finish(s, ids[2], &failed), 0);
	assert_int_equal(store_invocation_requeue(s, ids[3]), 0);
	struct store_outcome timeout = { .status = STORE_TIMEOUT, .error = "timed out" };
	assert_int_equal(store_invocation_finish(s, ids[4], &timeout), 0);
}

/* Fills s, with the artifacts' files in dir (an existing folder). */
static void sample_fill(struct store *s, struct sample *x, const char *dir)
{
	sample_tenants(s, x);
	sample_artifacts(s, x, dir);
	sample_functions(s, x, dir);
	sample_invocations(s, x);
	assert_int_equal(store_host_register(s, "h1", "http://10.0.0.5:7070", 16), 0);
	assert_int_equal(store_host_register(s, "h2", "http://10.0.0.6:7070", 2), 0);
	assert_int_equal(store_host_set_down(s, "h2", true), 0);
	assert_int_equal(store_host_register(s, "h3", "http://10.0.0.7:7070", 4), 0);
	assert_int_equal(store_host_set_draining(s, "h3", true), 0);
}

#endif
