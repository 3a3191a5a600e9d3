/* Functions: deploy, functions, get, delete. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

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

static int run_deploy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_TIMEOUT = OPT_FIRST_COMMAND, O_MEMORY, O_CONCURRENCY, O_MODE };
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "concurrency", required_argument, NULL, O_CONCURRENCY },
		{ "mode", required_argument, NULL, O_MODE },
		CLI_GLOBAL_OPTIONS,
	};
	const char *timeout = NULL, *memory = NULL, *conc = NULL, *mode = NULL;
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
		default: return cli_opt_default(cmd, c);
		}
	}
	char path[CLI_PATH_SIZE];
	if ((r = cli_path_args(cmd, argc, argv, 2, "/v1/functions/%s", "NAME", path)))
		return r;
	const char *name = argv[optind], *file = argv[optind + 1];
	if (timeout)
		cli_query_add(path, "timeout", timeout);
	if (memory)
		cli_query_add(path, "memory", memory);
	if (conc)
		cli_query_add(path, "max_concurrency", conc);
	if (mode)
		cli_query_add(path, "mode", mode);

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
	json_t *fn = NULL;
	int code = cli_send_json(cli, &rq, &fn);
	fclose(f);
	if (code)
		return code;
	if (cli->json) {
		code = cli_print_json(fn);
	} else {
		char size[32];
		const char *digest = field_str(fn, "digest");
		printf("deployed %s version %lld (%s, sha256 %.12s)\n",
		       field_str(fn, "name") ? field_str(fn, "name") : name,
		       (long long)field_int(fn, "version", 0),
		       fmt_bytes(field_int(fn, "size", 0), size, sizeof(size)),
		       digest ? digest : "-");
	}
	json_decref(fn);
	return code;
}

const struct cli_command cmd_deploy = {
	"deploy",
	"NAME FILE [--timeout MS] [--memory MIB] [--concurrency N] [--mode process|persistent]",
	"deploy FILE as a new version of function NAME",
	"FILE is a static x86-64 Linux executable or a #! script; it is streamed to the controller,\n"
	"and every deploy makes a new immutable version. Limits left out take the controller's\n"
	"defaults.\n\n"
	"options:\n"
	"  --timeout MS       how long one invocation may run (default 60000)\n"
	"  --memory MIB       memory for the function (default 256)\n"
	"  --concurrency N    invocations of it in flight at once (default 10)\n"
	"  --mode MODE        process: a new process per invocation (default); persistent: one\n"
	"                     long-lived process per worker vCPU reading one JSON line per call\n",
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
