/* Functions: deploy, functions, get, delete. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "sealed.h"
#include "util.h"

/* A limit from a function's "limits" object; the spec's key first, then the
 * key with its unit, which some controllers send. */
static int64_t limit_of(const json_t *fn, const char *key, const char *alt)
{
	const json_t *limits = json_object_get(fn, "limits");
	int64_t v = field_int(limits, key, -1);
	return v >= 0 ? v : field_int(limits, alt, -1);
}

static const char *mode_of(const json_t *fn)
{
	const char *m = field_str(json_object_get(fn, "limits"), "mode");
	return m ? m : "-";
}

/* ---- deploy ---------------------------------------------------------------------------- */

static int deploy_file(struct cli *cli, const char *path, const char *file, json_t **ret);

/* Seals the file with the tenant secret (made on the first encrypted
 * deploy) and sends the sealed artifact to path; the answer in *ret.
 * Returns an exit code. */
static int deploy_sealed(struct cli *cli, const struct cli_command *cmd,
			 const struct sealed_opts *so, const char *path, const char *file,
			 json_t **ret)
{
	uint8_t secret[E2E_KEY_SIZE], *sealed = NULL;
	void *plain = NULL;
	size_t len = 0, sealed_len = 0;
	int r = file_read_all(file, &plain, &len);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot read %s: %s", file, strerror(-r));
	int code = sealed_secret_load(cmd, so, true, secret);
	if (!code && (r = e2e_artifact_seal(secret, plain, len, &sealed, &sealed_len)) < 0)
		code = cli_fail(CLI_EXIT_API, "cannot seal %s: %s", file, strerror(-r));
	explicit_bzero(secret, sizeof(secret));
	if (plain)
		explicit_bzero(plain, len);
	free(plain);
	if (code)
		return code;
	struct http_request rq = {
		.method = "PUT",
		.path = path,
		.body = sealed,
		.body_len = sealed_len,
		.content_type = "application/octet-stream",
	};
	code = cli_send_json(cli, &rq, ret);
	free(sealed);
	return code;
}

static int run_deploy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum {
		O_TIMEOUT = OPT_FIRST_COMMAND,
		O_MEMORY,
		O_CONCURRENCY,
		O_MODE,
		O_ENCRYPTED,
		O_E2E_KEY,
		O_TENANT
	};
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "concurrency", required_argument, NULL, O_CONCURRENCY },
		{ "mode", required_argument, NULL, O_MODE },
		{ "encrypted", no_argument, NULL, O_ENCRYPTED },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "tenant", required_argument, NULL, O_TENANT },
		CLI_GLOBAL_OPTIONS,
	};
	const char *timeout = NULL, *memory = NULL, *conc = NULL, *mode = NULL;
	struct sealed_opts so = { .tenant = getenv("DITTO_TENANT") };
	bool encrypted = false;
	int c, r;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_TIMEOUT:
		case O_MEMORY:
		case O_CONCURRENCY:
			if ((r = cli_check_positive(cmd,
						    c == O_TIMEOUT  ? "--timeout"
						    : c == O_MEMORY ? "--memory"
								    : "--concurrency",
						    optarg, UINT32_MAX,
						    c == O_TIMEOUT  ? &timeout
						    : c == O_MEMORY ? &memory
								    : &conc)))
				return r;
			break;
		case O_MODE:
			if (strcmp(optarg, "process") != 0 && strcmp(optarg, "persistent") != 0)
				return cli_usage_error(
					cmd, "--mode must be process or persistent, got \"%s\"",
					optarg);
			mode = optarg;
			break;
		case O_ENCRYPTED: encrypted = true; break;
		case O_E2E_KEY: so.key_file = optarg; break;
		case O_TENANT: so.tenant = optarg; break;
		default: return cli_opt_default(cmd, c);
		}
	}
	char path[CLI_PATH_SIZE];
	if ((r = cli_path_args(cmd, argc, argv, 2, "/v1/functions/%s", "NAME", path)))
		return r;
	if (!encrypted && so.key_file)
		return cli_usage_error(cmd, "--e2e-key goes with --encrypted");
	const char *name = argv[optind], *file = argv[optind + 1];
	if (timeout)
		cli_query_add(path, "timeout", timeout);
	if (memory)
		cli_query_add(path, "memory", memory);
	if (conc)
		cli_query_add(path, "max_concurrency", conc);
	if (mode)
		cli_query_add(path, "mode", mode);
	json_t *fn = NULL;
	if (encrypted) {
		cli_query_add(path, "encrypted", "true");
		r = deploy_sealed(cli, cmd, &so, path, file, &fn);
	} else {
		r = deploy_file(cli, path, file, &fn);
	}
	if (r)
		return r;
	if (cli->json) {
		r = cli_print_json(fn);
	} else {
		char size[32];
		const char *digest = field_str(fn, "digest");
		printf("deployed %s version %lld%s (%s, sha256 %.12s)\n",
		       field_str(fn, "name") ? field_str(fn, "name") : name,
		       (long long)field_int(fn, "version", 0), encrypted ? ", encrypted" : "",
		       fmt_bytes(field_int(fn, "size", 0), size, sizeof(size)),
		       digest ? digest : "-");
	}
	json_decref(fn);
	return r;
}

/* Streams the file to path; the answer in *ret. Returns an exit code. */
static int deploy_file(struct cli *cli, const char *path, const char *file, json_t **ret)
{
	FILE *f = fopen(file, "rbe");
	if (!f)
		return cli_fail(CLI_EXIT_API, "cannot open %s: %s", file, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return cli_fail(CLI_EXIT_API, "%s is not a regular file", file);
	}
	struct http_request rq = {
		.method = "PUT",
		.path = path,
		.upload = f,
		.upload_len = st.st_size,
		.content_type = "application/octet-stream",
	};
	int code = cli_send_json(cli, &rq, ret);
	fclose(f);
	return code;
}

const struct cli_command cmd_deploy = {
	"deploy",
	"NAME FILE [--timeout MS] [--memory MIB] [--concurrency N] [--mode process|persistent] "
	"[--encrypted [--e2e-key FILE] [--tenant T]]",
	"deploy FILE as a new version of function NAME",
	"FILE is a static x86-64 Linux executable or a #! script; it is streamed to the controller,\n"
	"and every deploy makes a new immutable version. Limits left out take the controller's\n"
	"defaults.\n\n"
	"options:\n"
	"  --timeout MS       how long one invocation may run (default 60000)\n"
	"  --memory MIB       memory for the function (default 256)\n"
	"  --concurrency N    invocations of it in flight at once (default 10)\n"
	"  --mode MODE        process: a new process per invocation (default); persistent: one\n"
	"                     long-lived process per worker vCPU reading one JSON line per call\n"
	"  --encrypted        seal FILE with the tenant secret (AES-256-GCM) before it leaves:\n"
	"                     the platform stores and relays only the sealed artifact, which\n"
	"                     only the tenant's VMs open (invoke it with --encrypted)\n"
	"  --e2e-key FILE     the tenant secret (64 hex digits, mode 0600); default\n"
	"                     $DITTO_E2E_KEY, else ~/.config/ditto/TENANT.e2e-key, created on\n"
	"                     the first encrypted deploy\n"
	"  --tenant T         the tenant, for that default (default $DITTO_TENANT)\n",
	run_deploy,
};

/* ---- functions ------------------------------------------------------------------------- */

static void function_row(struct table *t, const json_t *fn)
{
	char size[32], age[32];
	table_add(t, "%s", field_str(fn, "name") ? field_str(fn, "name") : "-");
	table_add(t, "%lld", (long long)field_int(fn, "version", 0));
	table_add(t, "%s", mode_of(fn));
	table_add(t, "%lldms", (long long)limit_of(fn, "timeout", "timeout_ms"));
	table_add(t, "%lldMiB", (long long)limit_of(fn, "memory", "memory_mib"));
	table_add(t, "%lld", (long long)limit_of(fn, "max_concurrency", "concurrency"));
	table_add(t, "%s", fmt_bytes(field_int(fn, "size", 0), size, sizeof(size)));
	table_add(t, "%s", fmt_age(field_int(fn, "created_ms", 0), age, sizeof(age)));
}

static int run_functions(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const header[] = {
		"NAME", "VERSION", "MODE", "TIMEOUT", "MEMORY", "CONCURRENCY", "SIZE", "AGE", NULL,
	};
	return cli_run_list(cli, cmd, argc, argv, "/v1/functions", "functions", header,
			    function_row);
}

const struct cli_command cmd_functions = {
	"functions", "", "list the functions (the latest version of each)", NULL, run_functions,
};

/* ---- get ------------------------------------------------------------------------------- */

static void function_block(struct table *t, const json_t *fn)
{
	char size[32];
	table_row(t, "Name:", field_str(fn, "name"));
	table_add(t, "Version:");
	table_add(t, "%lld", (long long)field_int(fn, "version", 0));
	table_row(t, "Digest:", field_str(fn, "digest"));
	table_add(t, "Size:");
	table_add(t, "%s (%lld bytes)", fmt_bytes(field_int(fn, "size", 0), size, sizeof(size)),
		  (long long)field_int(fn, "size", 0));
	table_row(t, "Mode:", mode_of(fn));
	table_add(t, "Timeout:");
	table_add(t, "%lld ms", (long long)limit_of(fn, "timeout", "timeout_ms"));
	table_add(t, "Memory:");
	table_add(t, "%lld MiB", (long long)limit_of(fn, "memory", "memory_mib"));
	table_add(t, "Concurrency:");
	table_add(t, "%lld", (long long)limit_of(fn, "max_concurrency", "concurrency"));
	table_when(t, "Created:", field_int(fn, "created_ms", 0));
}

static int run_get(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { CLI_VERSION_OPTION, CLI_GLOBAL_OPTIONS };
	char path[CLI_PATH_SIZE];
	int code = cli_parse_shared(cli, cmd, argc, argv, opts, 1, 1);
	if (code >= 0)
		return code;
	if ((code = cli_path(cmd, "/v1/functions/%s", "NAME", argv[optind], path)))
		return code;
	if (cli->version)
		cli_query_add(path, "version", cli->version);
	json_t *fn = NULL;
	if ((code = cli_call(cli, "GET", path, NULL, &fn)))
		return code;
	code = cli_print_object(cli, fn, function_block);
	json_decref(fn);
	return code;
}

const struct cli_command cmd_get = {
	"get",
	"NAME [--version V]",
	"show a function: its latest version, or version V",
	"options:\n"
	"  --version V    the version to show\n",
	run_get,
};

/* ---- delete ---------------------------------------------------------------------------- */

static int run_delete(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	json_t *o = NULL;
	int code = cli_call_arg(cli, cmd, argc, argv, "DELETE", "/v1/functions/%s", "NAME", &o);
	if (code || !o)
		return code;
	code = cli_print_result(cli, o, "deleted function %s\n", argv[optind]);
	json_decref(o);
	return code;
}

const struct cli_command cmd_delete = {
	"delete",
	"NAME",
	"delete a function with all its versions (its invocation records stay readable)",
	NULL,
	run_delete,
};
