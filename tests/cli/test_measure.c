/* `ditto measure`, the built binary run as a user runs it: every launch
 * digest sev-snp-measure publishes for its firmware fixture (the rows of
 * tests/data/snp's reference table), the --json shape, an image folder as
 * the agent launches it, and one clear stderr line for each mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/files.h"
#include "support/procs.h"
#include "support/run.h"
#include "util.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char scratch[256];

/* Runs BUILD/ditto measure with args, with no key and no controller (measure needs
 * neither). */
static void measure(struct run_out *r, const char *const *args)
{
	char bin[512];
	snprintf(bin, sizeof(bin), "%s/ditto", test_build_dir());
	const char *argv[32] = { bin, "measure" };
	size_t n = 2;
	while (args[n - 2] && n < 31) {
		argv[n] = args[n - 2];
		n++;
	}
	argv[n] = NULL;
	run_program(r, scratch, ARGV("DITTO_KEY", "DITTO_URL=http://127.0.0.1:1"), argv);
}

static char amdsev[512], ovmfx64[512];

static int setup(void **state)
{
	const char *dir = getenv("DITTO_TESTDATA");
	snprintf(amdsev, sizeof(amdsev), "%s/snp/ovmf_AmdSev_suffix.bin", dir ? dir : "tests/data");
	snprintf(ovmfx64, sizeof(ovmfx64), "%s/snp/ovmf_OvmfX64_suffix.bin",
		 dir ? dir : "tests/data");
	return scratch_dir(scratch, sizeof(scratch), "measure");
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

/* The run printed digest, alone on its line, and nothing on stderr. */
static void expect_digest(const char *const *args, const char *digest)
{
	struct run_out r;
	measure(&r, args);
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	char want[128];
	snprintf(want, sizeof(want), "%s\n", digest);
	assert_string_equal(r.out, want);
	assert_string_equal(r.err, "");
	run_out_free(&r);
}

/* Every row of sev-snp-measure's table: with an empty kernel and initrd
 * (/dev/null), with none, 1 and 4 vCPUs, both guest feature words. */
static void test_reference_digests(void **state)
{
	const char *cmd = "console=ttyS0 loglevel=7";
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--append", cmd, "--vcpus", "1"),
		      "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7"
		      "e1e17895dfe778d0228977");
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--append", cmd, "--vcpus", "1", "--guest-features", "0x1"),
		      "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a9"
		      "2046c042e706363b4b08fa");
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--append", "", "--vcpus", "1"),
		      "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4"
		      "e1d7fa41179ef98a7ef198");
	expect_digest(ARGV("--ovmf", amdsev, "--vcpus", "1"),
		      "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4"
		      "a2ebe0eed9f22adbcd0e2b");
	expect_digest(ARGV("--ovmf", amdsev, "--vcpus", "1", "--guest-features", "1"),
		      "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48d"
		      "d6f6db5d6d76e7c5df632d");
	/* Three worker vCPUs are four vCPUs at launch. */
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--vcpus", "4", "--vcpu-type", "EPYC-v4"),
		      "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b4229"
		      "07be0b4698e2414a631942");
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--max-workers", "3"),
		      "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b4229"
		      "07be0b4698e2414a631942");
	expect_digest(ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			   "--max-workers", "3", "--guest-features", "0x1"),
		      "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6"
		      "c4933de877c36e23046ad5");
}

/* --json: the digest, the inputs as measured, and the firmware pages'
 * digest alone (the first row of the table). */
static void test_json(void **state)
{
	struct run_out r;
	measure(&r, ARGV("--ovmf", amdsev, "--kernel", "/dev/null", "--initrd", "/dev/null",
			 "--append", "console=ttyS0 loglevel=7", "--max-workers", "0", "--json"));
	assert_int_equal(r.status, 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	assert_true(json_is_object(o));
	assert_string_equal(json_string_value(json_object_get(o, "measurement")),
			    "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534"
			    "442e7e1e17895dfe778d0228977");
	json_t *in = json_object_get(o, "inputs");
	assert_string_equal(json_string_value(json_object_get(in, "ovmf")), amdsev);
	assert_string_equal(json_string_value(json_object_get(in, "kernel")), "/dev/null");
	assert_string_equal(json_string_value(json_object_get(in, "initrd")), "/dev/null");
	assert_string_equal(json_string_value(json_object_get(in, "cmdline")),
			    "console=ttyS0 loglevel=7");
	assert_int_equal(json_integer_value(json_object_get(in, "vcpus")), 1);
	assert_string_equal(json_string_value(json_object_get(in, "vcpu_type")), "EPYC-v4");
	assert_string_equal(json_string_value(json_object_get(in, "guest_features")), "0x21");
	assert_string_equal(json_string_value(json_object_get(in, "ovmf_hash")),
			    "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff"
			    "8c374c2a55c467a50da6d466b74");
	json_decref(o);
	run_out_free(&r);
}

/* --image DIR measures DIR/vmlinuz (the bzImage) and DIR/initramfs.cpio.gz with
 * image.json's command line: the same digest as naming them one by one. */
static void test_image_dir(void **state)
{
	char json[320], kernel[320], initrd[320];
	snprintf(json, sizeof(json), "%s/image.json", scratch);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", scratch);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", scratch);
	assert_int_equal(
		file_replace_text(json, "{\"cmdline\": \"console=ttyS0 quiet\"}", 0644, false), 0);
	assert_int_equal(file_replace_text(kernel, "not really a kernel", 0644, false), 0);
	assert_int_equal(file_replace_text(initrd, "nor an initramfs", 0644, false), 0);
	struct run_out a, b;
	measure(&a, ARGV("--ovmf", amdsev, "--image", scratch, "--max-workers", "2"));
	measure(&b, ARGV("--ovmf", amdsev, "--kernel", kernel, "--initrd", initrd, "--append",
			 "console=ttyS0 quiet", "--vcpus", "3"));
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 0);
	assert_int_equal(strlen(a.out), 97);
	assert_string_equal(a.out, b.out);
	run_out_free(&a);
	run_out_free(&b);
	/* Another command line is another digest. */
	measure(&b, ARGV("--ovmf", amdsev, "--kernel", kernel, "--initrd", initrd, "--vcpus", "3"));
	measure(&a, ARGV("--ovmf", amdsev, "--image", scratch, "--max-workers", "2"));
	assert_string_not_equal(a.out, b.out);
	run_out_free(&a);
	run_out_free(&b);
}

/* The run failed with status, nothing on stdout and one stderr line
 * holding each fragment. */
static void expect_error(const char *const *args, int status, const char *a, const char *b)
{
	struct run_out r;
	measure(&r, args);
	size_t n = strlen(r.err);
	if (r.status != status || n < 2 || strchr(r.err, '\n') != r.err + n - 1 ||
	    !strstr(r.err, a) || (b && !strstr(r.err, b)))
		fail_msg("expected exit %d and one line with \"%s\"; got %d: %s", status, a,
			 r.status, r.err);
	assert_string_equal(r.out, "");
	run_out_free(&r);
}

static void test_errors(void **state)
{
	/* A kernel needs the kernel-hashes table of an AmdSev build. */
	expect_error(ARGV("--ovmf", ovmfx64, "--kernel", "/dev/null", "--vcpus", "1"), 1,
		     "ovmf_OvmfX64_suffix.bin", "AmdSev");
	expect_error(ARGV("--ovmf", "/nonexistent/ovmf.fd", "--vcpus", "1"), 1,
		     "/nonexistent/ovmf.fd", "No such file");
	expect_error(ARGV("--ovmf", amdsev, "--kernel", "/nonexistent/vmlinux", "--vcpus", "1"), 1,
		     "/nonexistent/vmlinux", NULL);
	expect_error(ARGV("--ovmf", amdsev, "--image", "/nonexistent", "--vcpus", "1"), 1,
		     "/nonexistent/image.json", NULL);
	expect_error(ARGV("--ovmf", amdsev, "--vcpus", "1", "--vcpu-type", "Skylake-Server"), 2,
		     "unknown --vcpu-type \"Skylake-Server\"", NULL);
	expect_error(ARGV("--ovmf", amdsev, "--vcpus", "0"), 2, "--vcpus must be 1..512", NULL);
	expect_error(ARGV("--ovmf", amdsev, "--max-workers", "x"), 2, "--max-workers must be",
		     NULL);
	expect_error(ARGV("--ovmf", amdsev, "--vcpus", "1", "--max-workers", "1"), 2, "once", NULL);
	expect_error(ARGV("--ovmf", amdsev), 2, "--vcpus N or --max-workers N", NULL);
	expect_error(ARGV("--vcpus", "1"), 2, "--ovmf FILE is required", NULL);
	expect_error(
		ARGV("--ovmf", amdsev, "--image", scratch, "--kernel", "/dev/null", "--vcpus", "1"),
		2, "not both", NULL);
	expect_error(ARGV("--ovmf", amdsev, "--append", "x", "--vcpus", "1"), 2, "need --kernel",
		     NULL);
	expect_error(ARGV("--ovmf", amdsev, "--vcpus", "1", "--guest-features", "0xzz"), 2,
		     "--guest-features must be", NULL);
	/* Not a firmware image at all. */
	expect_error(ARGV("--ovmf", "/dev/null", "--vcpus", "1"), 1, "/dev/null", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_digests),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_image_dir),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
