/* The runtime disk's dm-verity parameters (verity.h): the kernel command
 * line's ditto.runtime= read into the table the kernel gets, every malformed
 * form refused, and the verity-open subcommand's errors. The mapping itself
 * needs the device-mapper of a VM: tests/integration/agent/runtimes.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "verity.h"

#define ROOT "6dde98ff13489d2172e3c93be2deabe60f51fab015307523837cb9dad71be310"
#define SALT "1ad759ad06e5915cc59a7ba3224b537d28e58cc75cfbafd068181d0a766f4cee"
#define GOOD "ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT "," SALT

static void test_parse_and_table(void **state)
{
	struct verity_params p;
	assert_int_equal(verity_params_parse("console=ttyS0 quiet " GOOD " panic=-1", &p), 0);
	assert_int_equal(p.version, 1);
	assert_int_equal(p.data_block_size, 4096);
	assert_int_equal(p.hash_block_size, 4096);
	assert_int_equal(p.data_blocks, 10744);
	assert_int_equal(p.hash_start_block, 10745);
	assert_string_equal(p.algorithm, "sha256");
	assert_string_equal(p.root_hash, ROOT);
	assert_string_equal(p.salt, SALT);
	assert_int_equal(verity_sectors(&p), 10744 * 8);
	char table[1024];
	assert_int_equal(verity_table(&p, 254, 0, table, sizeof(table)), 0);
	assert_string_equal(table, "1 254:0 254:0 4096 4096 10744 10745 sha256 " ROOT " " SALT);
	assert_int_equal(verity_table(&p, 254, 0, table, 40), -ENAMETOOLONG);

	/* At the end of the line, after a newline, with no salt; the last one wins. */
	assert_int_equal(verity_params_parse("a " GOOD "\n", &p), 0);
	assert_int_equal(verity_params_parse(GOOD " ditto.runtime=1,512,4096,8,1,sha1,00ff,-", &p),
			 0);
	assert_int_equal(p.data_block_size, 512);
	assert_int_equal(verity_sectors(&p), 8);
	assert_string_equal(p.salt, "-");
	assert_string_equal(p.root_hash, "00ff");
}

static void test_absent_and_malformed(void **state)
{
	struct verity_params p = { .version = 7 };
	assert_int_equal(verity_params_parse("", &p), -ENOENT);
	assert_int_equal(verity_params_parse("console=ttyS0 xditto.runtime=1", &p), -ENOENT);
	static const char *const bad[] = {
		"ditto.runtime=",
		"ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT,
		"ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT "," SALT ",x",
		"ditto.runtime=2,4096,4096,10744,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4000,4096,10744,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,256,10744,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,131072,10744,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,0,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,10744,10743,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,+10744,10745,sha256," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,SHA256," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,," ROOT "," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,sha256,0g," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,sha256,abc," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,sha256,," SALT,
		"ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT ",",
		"ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT ",--",
		"ditto.runtime=1,4096,4096,10744,10745,sha256," ROOT "," SALT SALT SALT SALT SALT SALT SALT SALT "00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (verity_params_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(p.version, 7); /* untouched on failure */
}

/* Runs verity_main on the NULL-terminated arguments with stderr silenced. */
static int run_main(const char *const *args)
{
	char *argv[8];
	int argc = 0;
	argv[argc++] = "verity-open";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	optind = 0;
	fflush(stderr);
	int saved = dup(2);
	FILE *null = freopen("/dev/null", "w", stderr);
	assert_non_null(null);
	int code = verity_main(argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return code;
}

static void test_subcommand_errors(void **state)
{
	char dir[] = "/tmp/verity-test.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("console=ttyS0\n", f);
	fclose(f);
	assert_int_equal(run_main((const char *[]){ "/dev/vda", NULL }), 2);
	assert_int_equal(run_main((const char *[]){ "--bogus", "/dev/vda", "rt", NULL }), 2);
	assert_int_equal(run_main((const char *[]){ "--cmdline", "/nonexistent", "/dev/vda", "rt",
						    NULL }),
			 1);
	/* No ditto.runtime= in the command line. */
	assert_int_equal(run_main((const char *[]){ "--cmdline", path, "/dev/vda", "rt", NULL }),
			 1);
	/* Not a block device: refused before the device-mapper is asked. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(GOOD "\n", f);
	fclose(f);
	assert_int_equal(run_main((const char *[]){ "--cmdline", path, "/dev/null", "rt", NULL }),
			 1);
	struct verity_params p;
	assert_int_equal(verity_params_parse(GOOD, &p), 0);
	char out[64];
	assert_int_equal(verity_open(&p, "/dev/null", "rt", out, sizeof(out)), -ENOTBLK);
	assert_int_equal(verity_open(&p, "/nonexistent", "rt", out, sizeof(out)), -ENOENT);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_table),
		cmocka_unit_test(test_absent_and_malformed),
		cmocka_unit_test(test_subcommand_errors),
	};
	return cmocka_run_group_tests_name("verity", tests, NULL, NULL);
}
