/* Binding a confidential VM to its tenant (host_binding.h): the rule in every
 * mode (match, mismatch, plain refused under SNP, everything allowed without
 * SNP, nothing run when HOST_DATA could not be read); HOST_DATA taken from
 * offset 0xC0 of a real report; and through the daemon, a guest whose SEV
 * device gives no report starts, says why, and refuses every invocation
 * before any artifact is opened. A device that answers the SNP ioctls cannot
 * be played by a plain file, so the daemon's SNP mode itself is covered by
 * the rule's tests. */
#include "support/guest_harness.h"

#include <dirent.h>

#include "e2e.h"
#include "host_binding.h"
#include "snp_verify.h"
#include "util.h"

#define REPORT_FILE "snp/v01_virtee_milan_v2/report.bin"
#define ID "0123456789abcdef0123456789abcdef"

#define E_PLAIN "confidential VM: only end-to-end encrypted invocations run here"
#define E_MISMATCH "e2e: the tenant secret is not the one this VM was launched for (HOST_DATA)"
#define E_UNREAD "confidential VM: cannot read its HOST_DATA ("

static const uint8_t secret[E2E_KEY_SIZE] = { 0x5e, 0xc7, 0xe7 };

static struct host_binding snp_bound_to(const uint8_t *sec)
{
	struct host_binding b = { .mode = HOST_BINDING_SNP };
	e2e_host_data(sec, b.host_data);
	return b;
}

static void test_admit_match(void **state)
{
	struct host_binding b = snp_bound_to(secret);
	char err[256] = "";
	assert_int_equal(host_binding_admit(&b, true, secret, err, sizeof(err)), 0);
	/* Before the request is opened, an encrypted invocation goes on. */
	assert_int_equal(host_binding_admit(&b, true, NULL, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_admit_mismatch(void **state)
{
	struct host_binding b = snp_bound_to(secret);
	uint8_t other[E2E_KEY_SIZE];
	memcpy(other, secret, sizeof(other));
	other[E2E_KEY_SIZE - 1] ^= 1;
	char err[256];
	assert_int_equal(host_binding_admit(&b, true, other, err, sizeof(err)), -EPERM);
	assert_string_equal(err, E_MISMATCH);
	/* A launch that set no HOST_DATA (zeros) accepts no secret. */
	memset(b.host_data, 0, sizeof(b.host_data));
	assert_int_equal(host_binding_admit(&b, true, secret, err, sizeof(err)), -EPERM);
	assert_string_equal(err, E_MISMATCH);
}

static void test_admit_plain_refused_under_snp(void **state)
{
	struct host_binding b = snp_bound_to(secret);
	char err[256];
	assert_int_equal(host_binding_admit(&b, false, NULL, err, sizeof(err)), -EPERM);
	assert_string_equal(err, E_PLAIN);
}

static void test_admit_all_without_snp(void **state)
{
	struct host_binding b = { .mode = HOST_BINDING_NONE };
	uint8_t other[E2E_KEY_SIZE] = { 1 };
	char err[256] = "";
	assert_int_equal(host_binding_admit(&b, false, NULL, err, sizeof(err)), 0);
	assert_int_equal(host_binding_admit(&b, true, NULL, err, sizeof(err)), 0);
	assert_int_equal(host_binding_admit(&b, true, secret, err, sizeof(err)), 0);
	assert_int_equal(host_binding_admit(&b, true, other, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_admit_nothing_when_unread(void **state)
{
	struct host_binding b = { .mode = HOST_BINDING_UNREAD, .why = "the device is gone" };
	char err[256];
	assert_int_equal(host_binding_admit(&b, false, NULL, err, sizeof(err)), -EPERM);
	assert_string_equal(err, E_UNREAD "the device is gone); no invocation runs here");
	assert_int_equal(host_binding_admit(&b, true, NULL, err, sizeof(err)), -EPERM);
	assert_int_equal(host_binding_admit(&b, true, secret, err, sizeof(err)), -EPERM);
}

static void test_from_report(void **state)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", REPORT_FILE);
	void *data;
	size_t len;
	if (file_read_all(path, &data, &len) < 0)
		fail_msg("cannot read %s (run from the source root or set DITTO_TESTDATA)", path);
	uint8_t *report = data;
	struct host_binding b;
	/* This report's launch set no HOST_DATA. */
	assert_int_equal(host_binding_from_report(report, len, &b), 0);
	assert_int_equal(b.mode, HOST_BINDING_SNP);
	static const uint8_t zeros[SNP_HOST_DATA_SIZE];
	assert_memory_equal(b.host_data, zeros, sizeof(zeros));
	/* HOST_DATA is the 32 bytes at 0xC0. */
	uint8_t hd[SNP_HOST_DATA_SIZE];
	e2e_host_data(secret, hd);
	memcpy(report + 0xc0, hd, sizeof(hd));
	assert_int_equal(host_binding_from_report(report, len, &b), 0);
	assert_memory_equal(b.host_data, hd, sizeof(hd));
	char err[256];
	assert_int_equal(host_binding_admit(&b, true, secret, err, sizeof(err)), 0);
	/* Cut short: no binding, so nothing runs. */
	assert_int_equal(host_binding_from_report(report, SNP_REPORT_SIZE - 1, &b), -EBADMSG);
	assert_int_equal(b.mode, HOST_BINDING_UNREAD);
	assert_int_equal(host_binding_admit(&b, false, NULL, err, sizeof(err)), -EPERM);
	free(data);
}

static void test_read_device(void **state)
{
	char dir[] = "/tmp/ditto-binding-XXXXXX", path[PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sev-guest", dir);
	struct host_binding b;
	host_binding_read(path, &b);
	assert_int_equal(b.mode, HOST_BINDING_NONE);
	/* There, but no SEV guest device: the ioctls fail, and that is why. */
	guest_write_file(path, "x");
	host_binding_read(path, &b);
	assert_int_equal(b.mode, HOST_BINDING_UNREAD);
	assert_non_null(strstr(b.why, "SNP_GET_REPORT failed"));
	unlink(path);
	rmdir(dir);
}

/* ---- through the daemon -------------------------------------------- */

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	bool empty = true;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

static void expect_unread(struct guest_msg *m)
{
	assert_string_equal(guest_msg_str(m, "status"), "error");
	const char *error = guest_msg_str(m, "error");
	if (strncmp(error, E_UNREAD, strlen(E_UNREAD)) != 0)
		fail_msg("error \"%s\", wanted \"%s...\"", error, E_UNREAD);
	assert_non_null(strstr(error, "SNP_GET_REPORT failed"));
	assert_int_equal(m->body_len, 0);
	guest_msg_free(m);
}

/* A request for the encrypted invocation of digest, sealed to a key of
 * nobody's (the daemon could not attest). */
static void invoke_sealed(struct peer *t, const char *digest, struct guest_msg *ret)
{
	struct e2e_keypair client, vm;
	assert_int_equal(e2e_client_key(secret, ID, &client), 0);
	assert_int_equal(e2e_keypair_generate(&vm), 0);
	const struct e2e_aad aad = { .invocation_id = ID, .digest = digest };
	uint8_t *req;
	size_t len;
	assert_int_equal(e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm.pub, 1,
					  secret, &aad, "in", 2, &req, &len),
			 0);
	char meta[256];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true,\"invocation\":\"%s\"}",
		 digest, ID);
	peer_call(t, WIRE_INVOKE, meta, req, len, WIRE_REPLY, ret);
	free(req);
}

static void test_daemon_fails_closed(void **state)
{
	struct peer *p = *state;
	/* A second daemon, started where the SEV guest device is a plain file. */
	guest_write_file(p->sev, "not a device\n");
	int ch[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch), 0);
	pid_t pid = peer_fork_daemon(p, ch[1], true, ch[0]);
	close(ch[1]);
	struct peer t = *p;
	t.fd = ch[0];
	t.saved = NULL;
	t.next_id = 100;
	wire_decoder_init(&t.dec, WIRE_MAX_BODY);
	struct guest_msg m;
	peer_wait(&t, 0, WIRE_HELLO, &m);
	guest_msg_free(&m);

	char digest[SHA256_HEX_SIZE], sealed_digest[SHA256_HEX_SIZE];
	peer_put_script(&t, "#!/bin/sh\necho ran\n", digest);
	peer_invoke(&t, digest, "", "", "error", &m);
	expect_unread(&m);
	uint8_t *sealed;
	size_t len;
	const char *text = "#!/bin/sh\necho sealed-ran\n";
	assert_int_equal(e2e_artifact_seal(secret, text, strlen(text), &sealed, &len), 0);
	peer_put_artifact(&t, sealed, len, sealed_digest);
	free(sealed);
	invoke_sealed(&t, sealed_digest, &m);
	expect_unread(&m);
	/* Nothing was opened, and the daemon still answers. */
	assert_true(dir_empty(p->plain));
	peer_ping(&t);
	wire_decoder_free(&t.dec);
	close(ch[0]);
	guest_child_exits_cleanly(pid);
	unlink(p->sev);

	/* The first daemon, started without the device, runs plain code. */
	peer_activate(p, 1);
	peer_invoke_expect(p, digest, "", "", "ok", "ran\n");
}

#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admit_match),
		cmocka_unit_test(test_admit_mismatch),
		cmocka_unit_test(test_admit_plain_refused_under_snp),
		cmocka_unit_test(test_admit_all_without_snp),
		cmocka_unit_test(test_admit_nothing_when_unread),
		cmocka_unit_test(test_from_report),
		cmocka_unit_test(test_read_device),
		GUEST_TEST(test_daemon_fails_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
