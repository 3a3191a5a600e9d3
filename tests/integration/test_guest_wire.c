/* The real guest worker in a real VM, spoken to over its virtio-serial port
 * with raw frames: what it does with malformed and oversized frames, unknown
 * types, missing artifacts and requests for CPUs it does not have, how a
 * real function fares under a memory limit, the evidence it gives without
 * SEV-SNP, and an end-to-end encrypted invocation. The QEMU command line is
 * the agent's own (qemu_build_argv). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "e2e.h"
#include "encoding.h"
#include "qemu.h"
#include "sha256.h"
#include "support/procs.h"
#include "support/wait.h"
#include "util.h"
#include "wire.h"

#define DEADLINE_MS 120000

struct vmfix {
	pid_t qemu;
	int chan;
	char dir[64];
	struct wire_decoder dec;
	uint32_t next_id;
	uint8_t *body; /* the body of the last frame read */
	size_t body_len;
};

static int listen_at(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		return -1;
	return fd;
}

static int accept_within(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Reads frames until one arrives; returns its meta as JSON (type in *type). */
static json_t *next_frame(struct vmfix *v, uint8_t *type, uint32_t *id)
{
	long long deadline = clock_ms() + DEADLINE_MS;
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(&v->dec, &f);
		assert_true(r >= 0);
		if (r == 1) {
			*type = f.hdr.type;
			*id = f.hdr.id;
			free(v->body);
			v->body = malloc(f.hdr.body_len + 1);
			assert_non_null(v->body);
			memcpy(v->body, f.body, f.hdr.body_len);
			v->body_len = f.hdr.body_len;
			return f.hdr.meta_len ? json_loadb(f.meta, f.hdr.meta_len, 0, NULL)
					      : json_object();
		}
		int left = (int)(deadline - clock_ms());
		assert_true(left > 0);
		struct pollfd p = { .fd = v->chan, .events = POLLIN };
		assert_int_equal(poll(&p, 1, left), 1);
		char buf[65536];
		ssize_t n = read(v->chan, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(wire_decoder_feed(&v->dec, buf, (size_t)n), 0);
	}
}

/* Waits for the frame answering id, skipping unsolicited events. */
static json_t *reply_to(struct vmfix *v, uint32_t want, uint8_t *type)
{
	for (;;) {
		uint32_t id;
		json_t *m = next_frame(v, type, &id);
		if (id == want && (*type == WIRE_REPLY || *type == WIRE_ERROR))
			return m;
		json_decref(m);
	}
}

static void send_raw(struct vmfix *v, const void *p, size_t n)
{
	assert_int_equal(write(v->chan, p, n), (ssize_t)n);
}

static uint32_t send_frame(struct vmfix *v, uint8_t type, const char *meta, const void *body,
			   size_t len)
{
	uint8_t *buf;
	size_t n;
	uint32_t id = v->next_id++;
	assert_int_equal(wire_encode(type, id, meta, strlen(meta), body, len, &buf, &n), 0);
	send_raw(v, buf, n);
	free(buf);
	return id;
}

static void expect_error(struct vmfix *v, uint32_t id, const char *code)
{
	uint8_t type;
	json_t *m = reply_to(v, id, &type);
	assert_int_equal(type, WIRE_ERROR);
	assert_string_equal(json_string_value(json_object_get(m, "code")), code);
	assert_non_null(json_string_value(json_object_get(m, "message")));
	json_decref(m);
}

static int boot(void **state)
{
	static struct vmfix v;
	memset(&v, 0, sizeof(v));
	v.next_id = 1;
	char image_dir[256];
	snprintf(image_dir, sizeof(image_dir), "%s/guest", test_build_dir());
	struct guest_image img;
	if (guest_image_load(image_dir, &img) < 0) {
		fprintf(stderr, "no guest image in %s\n", image_dir);
		return -1;
	}
	snprintf(v.dir, sizeof(v.dir), "/tmp/ditto-wire.XXXXXX");
	if (!mkdtemp(v.dir))
		return -1;
	char qmp[128], chan[128], con[128];
	snprintf(qmp, sizeof(qmp), "%s/qmp.sock", v.dir);
	snprintf(chan, sizeof(chan), "%s/chan.sock", v.dir);
	snprintf(con, sizeof(con), "%s/console.log", v.dir);
	int lq = listen_at(qmp), lc = listen_at(chan);
	if (lq < 0 || lc < 0)
		return -1;
	enum accel accel;
	char why[96];
	accel_detect(ACCEL_AUTO, &accel, why, sizeof(why));
	struct qemu_spec qs = { .binary = "qemu-system-x86_64",
				.accel = accel,
				.mech = VCPU_PRECREATED,
				.max_workers = 1,
				.memory_mib = 256,
				.image = &img,
				.qmp_socket = qmp,
				.chan_socket = chan,
				.console_log = con };
	char **argv;
	if (qemu_build_argv(&qs, &argv) < 0)
		return -1;
	v.qemu = fork();
	if (v.qemu == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	qemu_argv_free(argv);
	int q = accept_within(lq, DEADLINE_MS);
	v.chan = accept_within(lc, DEADLINE_MS);
	close(lq);
	close(lc);
	(void)q; /* QMP stays connected and unused: QEMU needs its peer. */
	if (v.chan < 0)
		return -1;
	wire_decoder_init(&v.dec, WIRE_MAX_BODY);
	*state = &v;
	return 0;
}

static int shut(void **state)
{
	struct vmfix *v = *state;
	kill(v->qemu, SIGKILL);
	waitpid(v->qemu, NULL, 0);
	close(v->chan);
	wire_decoder_free(&v->dec);
	free(v->body);
	return 0;
}

static void test_hello(void **state)
{
	struct vmfix *v = *state;
	uint8_t type;
	uint32_t id;
	json_t *m = next_frame(v, &type, &id);
	assert_int_equal(type, WIRE_HELLO);
	assert_int_equal(json_integer_value(json_object_get(m, "version")), WIRE_VERSION);
	/* Precreated: both vCPUs exist, only CPU 0 is online. */
	assert_int_equal(json_integer_value(json_object_get(m, "cpus_possible")), 2);
	assert_int_equal(json_array_size(json_object_get(m, "cpus_online")), 1);
	json_decref(m);
}

static void test_malformed_frames(void **state)
{
	struct vmfix *v = *state;
	/* Garbage: answered with a "malformed" error (id 0), then the guest
	 * resynchronises on the next frame. */
	send_raw(v, "this is not a frame at all", 26);
	uint32_t ping = send_frame(v, WIRE_PING, "{}", NULL, 0);
	expect_error(v, 0, "malformed");
	uint8_t type;
	json_decref(reply_to(v, ping, &type));
	assert_int_equal(type, WIRE_REPLY);

	/* A header announcing a body over the limit: refused by id, and the
	 * declared body is skipped. */
	struct wire_header h = { .version = WIRE_VERSION,
				 .type = WIRE_INVOKE,
				 .id = 777,
				 .meta_len = 2,
				 .body_len = WIRE_MAX_BODY + 1 };
	uint8_t hdr[WIRE_HEADER_SIZE];
	wire_header_pack(&h, hdr);
	send_raw(v, hdr, sizeof(hdr));
	expect_error(v, 777, "too_big");
	/* The sender goes on with the frame it announced; the guest drops it
	 * all and reads the next frame. */
	size_t left = 2 + (size_t)WIRE_MAX_BODY + 1, chunk = 1u << 20;
	char *zeros = calloc(1, chunk);
	while (left > 0) {
		size_t n = left < chunk ? left : chunk;
		send_raw(v, zeros, n);
		left -= n;
	}
	free(zeros);

	/* Unknown type and bad meta: refused by id. */
	h = (struct wire_header){ .version = WIRE_VERSION, .type = 99, .id = 778, .meta_len = 2 };
	wire_header_pack(&h, hdr);
	send_raw(v, hdr, sizeof(hdr));
	send_raw(v, "{}", 2);
	expect_error(v, 778, "malformed");
	expect_error(v, send_frame(v, WIRE_INVOKE, "{not json", NULL, 0), "bad_request");
}

static void test_bad_requests(void **state)
{
	struct vmfix *v = *state;
	char digest[SHA256_HEX_SIZE];
	sha256_hex("nothing", 7, digest);
	char meta[160];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	expect_error(v, send_frame(v, WIRE_INVOKE, meta, "{}", 2), "artifact_missing");
	expect_error(v, send_frame(v, WIRE_ARTIFACT_PUT, meta, "something else", 14),
		     "digest_mismatch");
	expect_error(v, send_frame(v, WIRE_CPU_ACTIVATE, "{\"cpu\":0}", NULL, 0), "no_such_cpu");
	expect_error(v, send_frame(v, WIRE_CPU_ACTIVATE, "{\"cpu\":9}", NULL, 0), "no_such_cpu");

	/* Still serving: activate the worker vCPU and run a script there. */
	uint8_t type;
	json_t *m = reply_to(v, send_frame(v, WIRE_CPU_ACTIVATE, "{\"cpu\":1}", NULL, 0), &type);
	assert_int_equal(type, WIRE_REPLY);
	assert_true(json_integer_value(json_object_get(m, "online_us")) > 0);
	json_decref(m);
	const char *script = "#!/bin/sh\ncat /proc/self/stat >/dev/null; echo '{\"ok\":true}'\n";
	sha256_hex(script, strlen(script), digest);
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	json_decref(
		reply_to(v, send_frame(v, WIRE_ARTIFACT_PUT, meta, script, strlen(script)), &type));
	assert_int_equal(type, WIRE_REPLY);
	m = reply_to(v, send_frame(v, WIRE_INVOKE, meta, "{}", 2), &type);
	assert_int_equal(type, WIRE_REPLY);
	assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
	assert_int_equal(json_integer_value(json_object_get(m, "ran_on")), 1);
	json_decref(m);
}

static json_int_t meta_int(const json_t *m, const char *key)
{
	const json_t *v = json_object_get(m, key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* Invokes and returns the answer's meta, which must be a WIRE_REPLY. */
static json_t *invoke(struct vmfix *v, const char *meta, const char *input)
{
	uint8_t type;
	json_t *m = reply_to(v, send_frame(v, WIRE_INVOKE, meta, input, strlen(input)), &type);
	assert_int_equal(type, WIRE_REPLY);
	return m;
}

/* A real function (functions/busy, which touches the memory it is asked for)
 * under "memory_mib", and the guest's own share of each answer, "guest_us". */
static void test_memory_limit_and_guest_us(void **state)
{
	struct vmfix *v = *state;
	uint8_t type;
	json_decref(reply_to(v, send_frame(v, WIRE_CPU_ACTIVATE, "{\"cpu\":1}", NULL, 0), &type));
	assert_int_equal(type, WIRE_REPLY);
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/busy", test_build_dir());
	void *bin;
	size_t len;
	assert_int_equal(file_read_all(path, &bin, &len), 0);
	char digest[SHA256_HEX_SIZE], put[160], limited[192], unlimited[160];
	sha256_hex(bin, len, digest);
	snprintf(put, sizeof(put), "{\"digest\":\"%s\"}", digest);
	json_decref(reply_to(v, send_frame(v, WIRE_ARTIFACT_PUT, put, bin, len), &type));
	free(bin);
	assert_int_equal(type, WIRE_REPLY);
	snprintf(limited, sizeof(limited), "{\"digest\":\"%s\",\"memory_mib\":32}", digest);
	snprintf(unlimited, sizeof(unlimited), "{\"digest\":\"%s\"}", digest);

	/* Under its limit it runs. */
	json_t *m = invoke(v, limited, "{\"mb\":8}");
	assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
	assert_true(meta_int(m, "guest_us") >= meta_int(m, "queued_us") + meta_int(m, "wall_us"));
	json_decref(m);

	/* Over it, its allocation fails and so does the function. */
	m = invoke(v, limited, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(m, "status")), "error");
	assert_int_equal(meta_int(m, "exit_code"), 1);
	assert_string_equal(json_string_value(json_object_get(m, "error")), "exit code 1");
	assert_true(meta_int(m, "guest_us") >= meta_int(m, "queued_us") + meta_int(m, "wall_us"));
	json_decref(m);

	/* The same request without the limit: the guest is unharmed. */
	m = invoke(v, unlimited, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
	json_decref(m);

	snprintf(limited, sizeof(limited), "{\"digest\":\"%s\",\"memory_mib\":%d}", digest,
		 WIRE_MAX_MEMORY_MIB + 1);
	expect_error(v, send_frame(v, WIRE_INVOKE, limited, "{}", 2), "bad_request");
}

/* Without /dev/sev-guest: evidence of type none, no body, and the key the
 * guest made at boot, the same for every call. */
static void attest_none(struct vmfix *v, const char *nonce, uint8_t key[E2E_KEY_SIZE])
{
	char meta[160];
	snprintf(meta, sizeof(meta), "{\"nonce\":\"%s\"}", nonce);
	uint8_t type;
	json_t *m = reply_to(v, send_frame(v, WIRE_ATTEST, meta, NULL, 0), &type);
	assert_int_equal(type, WIRE_REPLY);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "none");
	assert_int_equal(v->body_len, 0);
	assert_int_equal(hex_to_bytes(json_string_value(json_object_get(m, "public_key")), key,
				      E2E_KEY_SIZE),
			 0);
	json_decref(m);
}

static void test_attest(void **state)
{
	struct vmfix *v = *state;
	uint8_t k1[E2E_KEY_SIZE], k2[E2E_KEY_SIZE], zero[E2E_KEY_SIZE] = { 0 };
	attest_none(v, "00112233445566778899aabbccddeeff", k1);
	attest_none(v, "ff", k2);
	assert_memory_equal(k1, k2, E2E_KEY_SIZE);
	assert_memory_not_equal(k1, zero, E2E_KEY_SIZE);
	expect_error(v, send_frame(v, WIRE_ATTEST, "{\"nonce\":\"xyz\"}", NULL, 0), "bad_request");
}

/* A sealed script run on a sealed input: the answer opens with the client
 * key, and the canary is in none of the bytes the guest sends. */
static void test_e2e_invoke(void **state)
{
	struct vmfix *v = *state;
	static const char script[] = "#!/bin/sh\n# wire-canary\nread x\necho \"$x-canary\"\n";
	const uint8_t secret[E2E_KEY_SIZE] = { 42 };
	const char *id = "00000000000000000000000000000001";
	uint8_t vm[E2E_KEY_SIZE], *sealed, *req, *plain;
	size_t sealed_len, req_len, plain_len;
	attest_none(v, "01", vm);
	uint8_t type;
	json_decref(reply_to(v, send_frame(v, WIRE_CPU_ACTIVATE, "{\"cpu\":1}", NULL, 0), &type));
	assert_int_equal(e2e_artifact_seal(secret, script, strlen(script), &sealed, &sealed_len),
			 0);
	char digest[SHA256_HEX_SIZE], meta[256];
	sha256_hex(sealed, sealed_len, digest);
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	json_decref(reply_to(v, send_frame(v, WIRE_ARTIFACT_PUT, meta, sealed, sealed_len), &type));
	assert_int_equal(type, WIRE_REPLY);
	free(sealed);

	struct e2e_keypair client;
	assert_int_equal(e2e_client_key(secret, id, &client), 0);
	const struct e2e_aad aad = { .invocation_id = id, .digest = digest };
	assert_int_equal(e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, secret,
					  &aad, "in\n", 3, &req, &req_len),
			 0);
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true,\"invocation\":\"%s\"}",
		 digest, id);
	json_t *m = reply_to(v, send_frame(v, WIRE_INVOKE, meta, req, req_len), &type);
	free(req);
	assert_int_equal(type, WIRE_REPLY);
	assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
	assert_null(memmem(v->body, v->body_len, "canary", 6));
	assert_int_equal(e2e_response_open(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, &aad,
					   E2E_PART_RESULT, v->body,
					   (size_t)meta_int(m, "result_len"), &plain, &plain_len,
					   NULL),
			 0);
	assert_int_equal(plain_len, strlen("in-canary\n"));
	assert_memory_equal(plain, "in-canary\n", plain_len);
	free(plain);
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_hello),
					    cmocka_unit_test(test_malformed_frames),
					    cmocka_unit_test(test_bad_requests),
					    cmocka_unit_test(test_memory_limit_and_guest_us),
					    cmocka_unit_test(test_attest),
					    cmocka_unit_test(test_e2e_invoke) };
	return cmocka_run_group_tests_name("guest wire protocol in a VM", tests, boot, shut);
}
