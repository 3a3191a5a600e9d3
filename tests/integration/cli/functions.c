/* Functions through the command line, and where it finds its URL and key. */
#include "cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

void test_functions(void **state)
{
	char art[128], big[128];
	snprintf(art, sizeof(art), "%s/hello.sh", S.dir);
	static const char script[] = "#!/bin/sh\necho '{\"hello\":1}'\n";
	write_text(art, script, 0755);
	char digest[SHA256_HEX_SIZE];
	sha256_hex(script, strlen(script), digest);

	struct run r;
	DITTO(&r, S.tenant_key, "functions");
	expect_ok(&r);
	assert_string_equal(r.out, "");
	run_free(&r);

	DITTO(&r, S.tenant_key, "deploy", "hello", art, "--timeout", "5000", "--memory", "128",
	      "--concurrency", "3", "--mode", "persistent");
	expect_ok(&r);
	assert_true(strncmp(r.out, "deployed hello version 1 ", 25) == 0);
	run_free(&r);

	/* A second deploy is version 2; --json is the API's function object. */
	json_t *o = ditto_json(S.tenant_key, ARGV("--json", "deploy", "hello", art));
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), digest);
	assert_int_equal(json_integer_value(json_object_get(o, "size")), strlen(script));
	json_decref(o);

	DITTO(&r, S.tenant_key, "functions");
	expect_ok(&r);
	assert_true(strncmp(r.out, "NAME ", 5) == 0);
	assert_non_null(strstr(r.out, "\nhello   2 "));
	run_free(&r);
	o = ditto_json(S.tenant_key, ARGV("functions", "--json"));
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 1);
	json_decref(o);

	/* Version 1 kept its limits. */
	DITTO(&r, S.tenant_key, "get", "hello", "--version", "1");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Version:"));
	assert_non_null(strstr(r.out, "persistent"));
	assert_non_null(strstr(r.out, "5000 ms"));
	assert_non_null(strstr(r.out, "128 MiB"));
	assert_non_null(strstr(r.out, digest));
	run_free(&r);
	o = ditto_json(S.tenant_key, ARGV("get", "hello", "--json"));
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	json_decref(o);
	ditto_fails(S.tenant_key, 1, "(not_found, HTTP 404)",
		    ARGV("get", "hello", "--version", "9"));

	/* Refusals: over a limit, an empty artifact, an admin key on a tenant
	 * route, a file that is not there. */
	ditto_fails(S.tenant_key, 1, "(bad_parameter, HTTP 400)",
		    ARGV("deploy", "hello", art, "--timeout", "1"));
	snprintf(big, sizeof(big), "%s/big", S.dir);
	int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * atoi(MAX_ARTIFACT)), 0);
	close(fd);
	ditto_fails(S.tenant_key, 1, "(too_large, HTTP 413)", ARGV("deploy", "big", big));
	write_text(big, "", 0644);
	ditto_fails(S.tenant_key, 1, "(empty, HTTP 400)", ARGV("deploy", "empty", big));
	ditto_fails(S.admin, 1, "(forbidden, HTTP 403)", ARGV("deploy", "hello", art));
	ditto_fails(S.tenant_key, 1, "cannot open /nonexistent/file",
		    ARGV("deploy", "hello", "/nonexistent/file"));

	DITTO(&r, S.tenant_key, "delete", "hello");
	expect_ok(&r);
	assert_string_equal(r.out, "deleted function hello\n");
	run_free(&r);
	ditto_fails(S.tenant_key, 1, "(not_found, HTTP 404)", ARGV("delete", "hello"));
	o = ditto_json(S.tenant_key, ARGV("functions", "--json"));
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 0);
	json_decref(o);
}

/* DITTO_URL and DITTO_KEY come from the env file when DITTO_KEY is unset;
 * DITTO_KEY in the environment, or a flag, wins over it. */
void test_env_file(void **state)
{
	char path[128], text[512], envvar[160];
	snprintf(path, sizeof(path), "%s/ditto.env", S.dir);
	snprintf(text, sizeof(text), "# written by hand\nDITTO_URL=%s\nexport DITTO_KEY=\"%s\"\n",
		 S.ctl.url, S.admin);
	write_text(path, text, 0600);
	snprintf(envvar, sizeof(envvar), "DITTO_ENV=%s", path);
	const char *from_file[] = { "DITTO_URL", "DITTO_KEY", envvar, NULL };
	struct run r;
	run_env(&r, from_file, NULL, (const char *const[]){ "tenant", "list", NULL });
	expect_ok(&r);
	assert_non_null(strstr(r.out, "acme"));
	run_free(&r);
	run_env(&r, from_file, NULL,
		(const char *const[]){ "tenant", "list", "--key",
				       "dk_0000000000000000000000000000000000000000", NULL });
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	run_free(&r);
	/* With DITTO_KEY set the file is not read: the URL is the default,
	 * where nothing of this test listens, or the one DITTO_URL names. */
	char url[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", S.ctl.url);
	const char *env_key[] = { url, "DITTO_KEY=dk_0000000000000000000000000000000000000000",
				  envvar, NULL };
	run_env(&r, env_key, NULL, (const char *const[]){ "tenant", "list", NULL });
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	run_free(&r);
}

/* Runtimes from the command line: the file's name picks python3 or nodejs,
 * --runtime and --handler reach the controller, get and functions show
 * them; a malformed handler is refused before any request, and what only
 * the controller can check (the bytes) with its 400. */
void test_runtimes(void **state)
{
	char py[128], js[128], elf[128];
	snprintf(py, sizeof(py), "%s/greet.py", S.dir);
	snprintf(js, sizeof(js), "%s/greet.mjs", S.dir);
	write_text(py, "def hello(args):\n    return {\"hi\": args.get(\"name\")}\n", 0644);
	write_text(js, "export async function main(args) { return args; }\n", 0644);
	snprintf(elf, sizeof(elf), "%s/elf", S.dir);
	write_text(elf, "\177ELF\002\001\001", 0755);

	struct run r;
	DITTO(&r, S.tenant_key, "deploy", "greet", py, "--handler", "hello");
	expect_out(&r, "deployed greet version 1 (python3, ", (const char *const[]){ NULL });
	run_free(&r);
	DITTO(&r, S.tenant_key, "get", "greet");
	expect_out(&r, "Name:",
		   ARGV("Runtime:       python3\n", "Handler:       hello\n",
			"Mode:          persistent\n"));
	run_free(&r);
	json_t *o = ditto_json(S.tenant_key, ARGV("--json", "deploy", "greetjs", js));
	assert_string_equal(json_string_value(json_object_get(o, "runtime")), "nodejs");
	assert_string_equal(json_string_value(json_object_get(o, "handler")), "main");
	json_decref(o);
	DITTO(&r, S.tenant_key, "functions");
	expect_out(&r, "NAME ", ARGV("RUNTIME", "python3", "nodejs"));
	run_free(&r);

	/* The flag wins over the name: a #! script deployed as shell. */
	char sh[128];
	snprintf(sh, sizeof(sh), "%s/run.py", S.dir);
	write_text(sh, "#!/bin/sh\necho '{}'\n", 0755);
	o = ditto_json(S.tenant_key, ARGV("--json", "deploy", "sh", sh, "--runtime", "shell"));
	assert_string_equal(json_string_value(json_object_get(o, "runtime")), "shell");
	assert_true(json_is_null(json_object_get(o, "handler")));
	json_decref(o);

	ditto_fails(S.tenant_key, 2,
		    "--handler: ", ARGV("deploy", "greet", py, "--handler", "a..b"));
	ditto_fails(S.tenant_key, 2, "--runtime must be",
		    ARGV("deploy", "greet", py, "--runtime", "ruby"));
	ditto_fails(S.tenant_key, 1, "(bad_function, HTTP 400)",
		    ARGV("deploy", "elf", elf, "--runtime", "python3"));
	o = ditto_json(S.tenant_key, ARGV("get", "greet", "--json"));
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	json_decref(o);
	const char *names[] = { "greet", "greetjs", "sh" };
	for (size_t i = 0; i < 3; i++) {
		DITTO(&r, S.tenant_key, "delete", names[i]);
		expect_ok(&r);
		run_free(&r);
	}
}
