/* Binding a confidential VM to its tenant (host_binding.h): the rule in every
 * mode (match, mismatch, plain refused under SNP, everything allowed without
 * SNP, nothing run when HOST_DATA could not be read); HOST_DATA taken from
 * offset 0xC0 of a real report; and through the daemon: under SNP (a file
 * standing for /dev/sev-guest, whose two report ioctls this binary answers
 * with a real report given the HOST_DATA of a tenant secret) only that
 * tenant's encrypted invocations run; a guest whose device gives no report
 * starts, says why, and refuses every invocation. Neither opens an artifact
 * it refuses. */
#include "support/guest_harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "sev_guest.h"

#include "e2e.h"
#include "encoding.h"
#include "host_binding.h"
#include "snp_verify.h"
#include "util.h"

#define ID "0123456789abcdef0123456789abcdef"

#define E_PLAIN "confidential VM: only end-to-end encrypted invocations run here"
#define E_MISMATCH "e2e: the tenant secret is not the one this VM was launched for (HOST_DATA)"
#define E_UNREAD "confidential VM: cannot read its HOST_DATA ("

static const uint8_t secret[E2E_KEY_SIZE] = { 0x5e, 0xc7, 0xe7 };

/* The firmware of the fake SEV guest device: when set, the report ioctls
 * answer with this report (REPORT_DATA put in at 0x50); otherwise every
 * ioctl goes to the kernel. Set before the daemon is forked. */
static uint8_t *fake_report;

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!fake_report || (request != SNP_GET_REPORT && request != SNP_GET_EXT_REPORT))
		return (int)syscall(SYS_ioctl, fd, request, arg);
	struct snp_guest_request_ioctl *io = arg;
	/* The extended request starts with the plain one; its certificate
	 * buffer stays empty. */
	const struct snp_report_req *req = (const void *)(uintptr_t)io->req_data;
	struct snp_report_resp *resp = (void *)(uintptr_t)io->resp_data;
	memset(resp, 0, sizeof(*resp));
	resp->data[4] = SNP_REPORT_SIZE & 0xff;
	resp->data[5] = SNP_REPORT_SIZE >> 8;
	memcpy(resp->data + ATTEST_RESP_HEADER, fake_report, SNP_REPORT_SIZE);
	memcpy(resp->data + ATTEST_RESP_HEADER + 0x50, req->user_data, SNP_REPORT_DATA_SIZE);
	return 0;
}

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
	size_t len;
	uint8_t *report = guest_test_report(&len);
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
	free(report);
}

static void test_read_device(void **state)
{
	/* dir stands for /dev and for /sys. */
	char dir[] = "/tmp/ditto-binding-XXXXXX", path[PATH_MAX], platform[PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sev-guest", dir);
	struct host_binding b;
	host_binding_read(path, dir, &b);
	assert_int_equal(b.mode, HOST_BINDING_NONE);
	/* There, but no SEV guest device: the ioctls fail, and that is why. */
	guest_write_file(path, "x");
	host_binding_read(path, dir, &b);
	assert_int_equal(b.mode, HOST_BINDING_UNREAD);
	assert_non_null(strstr(b.why, "SNP_GET_REPORT failed"));
	unlink(path);
	/* An SEV-SNP guest whose driver is missing is no plain VM. */
	snprintf(platform, sizeof(platform), "%s/bus/platform/devices/sev-guest", dir);
	assert_int_equal(mkdir_parents(platform, 0755), 0);
	host_binding_read(path, dir, &b);
	assert_int_equal(b.mode, HOST_BINDING_UNREAD);
	assert_non_null(strstr(b.why, "the sev-guest driver is not loaded"));
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
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

/* Starts a second daemon on p's folders, which sees p->sev as it is now, and
 * makes *t its peer. Returns its pid. */
static pid_t second_start(struct peer *p, struct peer *t)
{
	int ch[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch), 0);
	pid_t pid = peer_fork_daemon(p, ch[1], true, ch[0]);
	close(ch[1]);
	peer_attach(p, ch[0], t);
	return pid;
}

/* The invocation failed before running, with this error and no output. */
static void expect_refused(struct guest_msg *m, const char *error_prefix)
{
	assert_string_equal(guest_msg_str(m, "status"), "error");
	const char *error = guest_msg_str(m, "error");
	if (strncmp(error, error_prefix, strlen(error_prefix)) != 0)
		fail_msg("error \"%s\", wanted \"%s...\"", error, error_prefix);
	assert_int_equal(m->body_len, 0);
	guest_msg_free(m);
}

static void invoke_sealed(struct peer *t, const uint8_t vm[E2E_KEY_SIZE], const uint8_t *sec,
			  const char *digest, struct guest_msg *ret)
{
	peer_invoke_sealed(t, vm, sec, digest, ID, "", "in", WIRE_REPLY, ret);
}

/* The daemon's key from WIRE_ATTEST, whose report must carry HOST_DATA hd. */
static void attest_snp(struct peer *t, const uint8_t hd[SNP_HOST_DATA_SIZE],
		       uint8_t ret_key[E2E_KEY_SIZE])
{
	struct guest_msg m;
	peer_call(t, WIRE_ATTEST, "{\"nonce\":\"a5\"}", NULL, 0, WIRE_REPLY, &m);
	assert_string_equal(guest_msg_str(&m, "type"), "sev-snp");
	assert_int_equal(guest_msg_int(&m, "report_len"), SNP_REPORT_SIZE);
	assert_memory_equal(m.body + 0xc0, hd, SNP_HOST_DATA_SIZE);
	assert_int_equal(hex_to_bytes(guest_msg_str(&m, "public_key"), ret_key, E2E_KEY_SIZE), 0);
	guest_msg_free(&m);
}

static void test_daemon_snp(void **state)
{
	struct peer *p = *state;
	size_t len;
	fake_report = guest_test_report(&len);
	uint8_t hd[SNP_HOST_DATA_SIZE], vm[E2E_KEY_SIZE], host_secret[E2E_KEY_SIZE] = { 7 };
	e2e_host_data(secret, hd);
	memcpy(fake_report + 0xc0, hd, sizeof(hd));
	guest_write_file(p->sev, "a device, by the grace of ioctl()\n");
	struct peer t;
	pid_t pid = second_start(p, &t);
	free(fake_report);
	fake_report = NULL;
	attest_snp(&t, hd, vm);

	/* Code of the host's own: plain, or sealed with a secret of its own. */
	char digest[SHA256_HEX_SIZE], own[SHA256_HEX_SIZE], tenant[SHA256_HEX_SIZE];
	struct guest_msg m;
	peer_put_script(&t, "#!/bin/sh\necho ran\n", digest);
	peer_invoke(&t, digest, "", "", "error", &m);
	expect_refused(&m, E_PLAIN);
	peer_put_sealed(&t, host_secret, "#!/bin/sh\necho host-ran\n", own);
	invoke_sealed(&t, vm, host_secret, own, &m);
	expect_refused(&m, E_MISMATCH);
	assert_true(dir_empty(p->plain));

	/* The tenant's own runs. */
	peer_put_sealed(&t, secret, "#!/bin/sh\necho tenant-ran\n", tenant);
	peer_activate(&t, 1);
	invoke_sealed(&t, vm, secret, tenant, &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	guest_msg_free(&m);
	assert_false(dir_empty(p->plain));
	peer_detach(&t);
	guest_child_exits_cleanly(pid);
	unlink(p->sev);
}

static void test_daemon_fails_closed(void **state)
{
	struct peer *p = *state;
	/* The SEV guest device is a plain file: its ioctls fail. */
	guest_write_file(p->sev, "not a device\n");
	struct peer t;
	pid_t pid = second_start(p, &t);

	char digest[SHA256_HEX_SIZE], sealed_digest[SHA256_HEX_SIZE];
	struct guest_msg m;
	peer_put_script(&t, "#!/bin/sh\necho ran\n", digest);
	peer_invoke(&t, digest, "", "", "error", &m);
	assert_non_null(strstr(guest_msg_str(&m, "error"), "SNP_GET_REPORT failed"));
	expect_refused(&m, E_UNREAD);
	/* Sealed to a key of nobody's: the daemon cannot attest. */
	struct e2e_keypair nobody;
	assert_int_equal(e2e_keypair_generate(&nobody), 0);
	peer_put_sealed(&t, secret, "#!/bin/sh\necho sealed-ran\n", sealed_digest);
	invoke_sealed(&t, nobody.pub, secret, sealed_digest, &m);
	expect_refused(&m, E_UNREAD);
	/* Nothing was opened, and the daemon still answers. */
	assert_true(dir_empty(p->plain));
	peer_ping(&t);
	peer_detach(&t);
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
		GUEST_TEST(test_daemon_snp),
		GUEST_TEST(test_daemon_fails_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
