/* Functions: deploy, functions, get, delete. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fnpkg.h"
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

/* A function's runtime; a controller that predates runtimes runs binaries
 * and scripts only, which it does not tell apart. */
static const char *runtime_of(const json_t *fn)
{
	const char *r = field_str(fn, "runtime");
	return r ? r : "-";
}

/* ---- deploy ---------------------------------------------------------------------------- */

/* What deploy sends besides the file: each value checked or escaped for the
 * query already, NULL when not given. */
struct deploy_opts {
	const char *timeout, *memory, *conc, *mode, *runtime;
	const char *handler_raw;    /* as given, for its syntax check */
	char handler[CLI_ESC_SIZE]; /* escaped; "" when not given */
	bool encrypted;
	struct sealed_opts so;
};

/* The runtime a file's name implies (.py: python3; .js, .mjs, .cjs: nodejs),
 * or NULL when its name says nothing: the controller then infers it from the
 * bytes. */
static const char *runtime_from_name(const char *file)
{
	const char *base = strrchr(file, '/');
	const char *dot = strrchr(base ? base + 1 : file, '.');
	if (!dot || dot == (base ? base + 1 : file))
		return NULL;
	if (strcmp(dot, ".py") == 0)
		return "python3";
	if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0 || strcmp(dot, ".cjs") == 0)
		return "nodejs";
	return NULL;
}

/* The runtime an artifact's bytes show (lib/fnpkg: an ELF binary, a #!
 * script, a zip of .py or of .js files), or NULL: what an encrypted deploy
 * names, as the controller cannot look at sealed bytes. */
static const char *runtime_from_bytes(const uint8_t *p, size_t len)
{
	struct fnpkg_zip zip;
	struct fnpkg_zip_loc loc;
	bool indexed = false;
	if (fnpkg_is_zip(p, len)) {
		size_t tail = len < FNPKG_ZIP_TAIL_MAX ? len : FNPKG_ZIP_TAIL_MAX;
		indexed = fnpkg_zip_locate(p + len - tail, tail, len, &loc, NULL, 0) == 0 &&
			  loc.cd_offset + loc.cd_size <= len &&
			  fnpkg_zip_index(p + loc.cd_offset, loc.cd_size, &loc, &zip, NULL, 0) == 0;
	}
	enum fn_runtime rt = fnpkg_infer(p, len, indexed ? &zip : NULL);
	return rt == FN_RUNTIME_UNKNOWN ? NULL : fn_runtime_name(rt);
}

static int deploy_file(struct cli *cli, const char *path, const char *file, json_t **ret);

/* Seals the file with the tenant secret (made on the first encrypted
 * deploy) and sends the sealed artifact to path, naming its runtime (given,
 * else inferred from its name or its bytes), which the controller cannot
 * infer from sealed bytes; the answer in *ret. Returns an exit code. */
static int deploy_sealed(struct cli *cli, const struct cli_command *cmd,
			 const struct deploy_opts *d, char *path, const char *file, json_t **ret)
{
	uint8_t secret[E2E_KEY_SIZE], *sealed = NULL;
	void *plain = NULL;
	size_t len = 0, sealed_len = 0;
	int r = file_read_all(file, &plain, &len);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot read %s: %s", file, strerror(-r));
	const char *runtime = d->runtime ? d->runtime : runtime_from_bytes(plain, len);
	int code = 0;
	if (!runtime)
		code = cli_usage_error(cmd,
				       "cannot infer the runtime of %s, whose bytes are sealed: "
				       "name it with --runtime python3|nodejs|binary|shell",
				       file);
	else if (!d->runtime)
		cli_query_add(path, "runtime", runtime);
	if (!code)
		code = sealed_secret_load(cmd, &d->so, true, secret);
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

/* Sends the deploy that d describes and prints what the controller made of
 * it. Returns an exit code. */
static int deploy(struct cli *cli, const struct cli_command *cmd, struct deploy_opts *d,
		  const char *name, const char *file, char *path)
{
	if (!d->encrypted && d->so.key_file)
		return cli_usage_error(cmd, "--e2e-key goes with --encrypted");
	if (!d->runtime)
		d->runtime = runtime_from_name(file);
	enum fn_runtime rt;
	char why[200];
	if (d->runtime && d->handler_raw && fn_runtime_parse(d->runtime, &rt) == 0 &&
	    fnpkg_check_handler(rt, d->handler_raw, why, sizeof(why)) < 0)
		return cli_usage_error(cmd, "--handler: %s", why);
	if (d->timeout)
		cli_query_add(path, "timeout", d->timeout);
	if (d->memory)
		cli_query_add(path, "memory", d->memory);
	if (d->conc)
		cli_query_add(path, "max_concurrency", d->conc);
	if (d->mode)
		cli_query_add(path, "mode", d->mode);
	if (d->runtime)
		cli_query_add(path, "runtime", d->runtime);
	if (d->handler[0])
		cli_query_add(path, "handler", d->handler);
	json_t *fn = NULL;
	int r;
	if (d->encrypted) {
		cli_query_add(path, "encrypted", "true");
		r = deploy_sealed(cli, cmd, d, path, file, &fn);
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
		printf("deployed %s version %lld%s (%s, %s, sha256 %.12s)\n",
		       field_str(fn, "name") ? field_str(fn, "name") : name,
		       (long long)field_int(fn, "version", 0), d->encrypted ? ", encrypted" : "",
		       or_dash(field_str(fn, "runtime")),
		       fmt_bytes(field_int(fn, "size", 0), size, sizeof(size)),
		       digest ? digest : "-");
	}
	json_decref(fn);
	return r;
}

static int run_deploy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum {
		O_TIMEOUT = OPT_FIRST_COMMAND,
		O_MEMORY,
		O_CONCURRENCY,
		O_MODE,
		O_RUNTIME,
		O_HANDLER,
		O_ENCRYPTED,
		O_E2E_KEY,
		O_TENANT
	};
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "concurrency", required_argument, NULL, O_CONCURRENCY },
		{ "mode", required_argument, NULL, O_MODE },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "handler", required_argument, NULL, O_HANDLER },
		{ "encrypted", no_argument, NULL, O_ENCRYPTED },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "tenant", required_argument, NULL, O_TENANT },
		CLI_GLOBAL_OPTIONS,
	};
	struct deploy_opts d = { .so.tenant = getenv("DITTO_TENANT") };
	enum fn_runtime rt;
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
						    c == O_TIMEOUT  ? &d.timeout
						    : c == O_MEMORY ? &d.memory
								    : &d.conc)))
				return r;
			break;
		case O_MODE:
			if (strcmp(optarg, "process") != 0 && strcmp(optarg, "persistent") != 0)
				return cli_usage_error(
					cmd, "--mode must be process or persistent, got \"%s\"",
					optarg);
			d.mode = optarg;
			break;
		case O_RUNTIME:
			if (fn_runtime_parse(optarg, &rt) < 0)
				return cli_usage_error(cmd,
						       "--runtime must be python3, nodejs, binary "
						       "or shell, got \"%s\"",
						       optarg);
			d.runtime = optarg;
			break;
		case O_HANDLER:
			if ((r = cli_escape(cmd, "--handler", optarg, d.handler)))
				return r;
			d.handler_raw = optarg;
			break;
		case O_ENCRYPTED: d.encrypted = true; break;
		case O_E2E_KEY: d.so.key_file = optarg; break;
		case O_TENANT: d.so.tenant = optarg; break;
		default: return cli_opt_default(cmd, c);
		}
	}
	char path[CLI_PATH_SIZE];
	if ((r = cli_path_args(cmd, argc, argv, 2, "/v1/functions/%s", "NAME", path)))
		return r;
	return deploy(cli, cmd, &d, argv[optind], argv[optind + 1], path);
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
	"NAME FILE [--runtime python3|nodejs|binary|shell] [--handler H] [--timeout MS] "
	"[--memory MIB] [--concurrency N] [--mode process|persistent] "
	"[--encrypted [--e2e-key FILE] [--tenant T]]",
	"deploy FILE as a new version of function NAME",
	"FILE is a Python or Node.js source file, a zip of one with its modules, a static x86-64\n"
	"Linux executable or a #! script; it is streamed to the controller, and every deploy makes\n"
	"a new immutable version. Limits left out take the controller's defaults.\n\n"
	"options:\n"
	"  --runtime R        python3, nodejs, binary or shell; default: .py is python3, .js,\n"
	"                     .mjs and .cjs are nodejs, else the controller infers it from the\n"
	"                     bytes (an ELF binary, a #! line, a zip of .py or of .js files)\n"
	"  --handler H        python3: the function to call, [module.]function (default main;\n"
	"                     a zip: module.function, default __main__.main); nodejs: [file.]\n"
	"                     export (default main; a zip: file.export, default index.main)\n"
	"  --timeout MS       how long one invocation may run (default 60000)\n"
	"  --memory MIB       memory for the function (default 256)\n"
	"  --concurrency N    invocations of it in flight at once (default 10)\n"
	"  --mode MODE        process: a new process per invocation (default for binary and\n"
	"                     shell); persistent: one long-lived process per worker vCPU reading\n"
	"                     one JSON line per call (default for python3 and nodejs)\n"
	"  --encrypted        seal FILE with the tenant secret (AES-256-GCM) before it leaves:\n"
	"                     the platform stores and relays only the sealed artifact, which\n"
	"                     only the tenant's VMs open (invoke it with --encrypted); the\n"
	"                     runtime is sent as --runtime, the name or the bytes say\n"
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
	table_add(t, "%s", runtime_of(fn));
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
		"NAME",   "VERSION",     "RUNTIME", "MODE", "TIMEOUT",
		"MEMORY", "CONCURRENCY", "SIZE",    "AGE",  NULL,
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
	table_row(t, "Runtime:", runtime_of(fn));
	table_row(t, "Handler:", or_dash(field_str(fn, "handler")));
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
