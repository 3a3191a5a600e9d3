/* Invocations: invoke, invocations, invocation, logs. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encoding.h"
#include "sealed.h"

/* ---- invoke ---------------------------------------------------------------------------- */

/* Reads all of f into b. Returns 0 or -errno. */
static int read_all(FILE *f, struct buf *b)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n) < 0)
			return -ENOMEM;
	return ferror(f) ? -EIO : 0;
}

/* Fills b with the input --data names: the text itself, @FILE or @- for
 * standard input. Returns an exit code. */
static int load_input(const char *data, struct buf *b)
{
	if (data[0] != '@')
		return buf_append(b, data, strlen(data)) < 0
			       ? cli_fail(CLI_EXIT_API, "out of memory")
			       : CLI_EXIT_OK;
	const char *file = data + 1;
	bool std_in = strcmp(file, "-") == 0;
	FILE *f = std_in ? stdin : fopen(file, "rbe");
	if (!f)
		return cli_fail(CLI_EXIT_API, "cannot open %s: %s", file, strerror(errno));
	int r = read_all(f, b);
	if (!std_in)
		fclose(f);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot read %s: %s",
				std_in ? "standard input" : file, strerror(-r));
	return CLI_EXIT_OK;
}

/* The input's Content-Type: JSON when it parses as JSON (or is empty),
 * else opaque bytes, which the controller passes to the function as they
 * are. */
static const char *input_content_type(const struct buf *input)
{
	if (input->len == 0)
		return "application/json";
	json_t *v = json_loadb((const char *)input->data, input->len, JSON_DECODE_ANY, NULL);
	json_decref(v);
	return v ? "application/json" : "application/octet-stream";
}

/* Turns "total_us=12, agent_us=3" into {"total_us": 12, "agent_us": 3};
 * a value that is not an integer is kept as a string. */
static json_t *parse_timing(const char *s)
{
	json_t *o = json_object();
	char *copy = strdup(s), *save = NULL;
	if (!o || !copy) {
		free(copy);
		return o;
	}
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " \t");
		char *eq = strchr(item, '=');
		if (!eq || eq == item)
			continue;
		*eq = '\0';
		char *v = eq + 1;
		v[strcspn(v, " \t")] = '\0';
		int64_t n;
		json_object_set_new(o, item,
				    parse_i64(v, INT64_MIN, INT64_MAX, &n) == 0 ? json_integer(n)
										: json_string(v));
	}
	free(copy);
	return o;
}

/* The --json form of a synchronous answer: what the X-Ditto-* headers say
 * and the result, shaped like the fields of an invocation record (an empty
 * result is "" in UTF-8). */
static json_t *sync_summary(const struct http_response *r)
{
	char id[256] = "", status[64] = "", cold[16] = "", timing[1024] = "";
	http_response_header(r, "X-Ditto-Invocation-Id", id, sizeof(id));
	http_response_header(r, "X-Ditto-Status", status, sizeof(status));
	http_response_header(r, "X-Ditto-Cold-Start", cold, sizeof(cold));
	http_response_header(r, "X-Ditto-Timing", timing, sizeof(timing));
	json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "id", id, "status", status[0] ? status : "ok",
			      "cold_start", strcmp(cold, "true") == 0, "timing",
			      parse_timing(timing));
	if (o)
		payload_to_json(o, "result", "result_encoding", r->body.data, r->body.len);
	return o;
}

static int run_invoke(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_ASYNC = OPT_FIRST_COMMAND, O_DATA, O_ENCRYPTED, O_E2E_KEY, O_TENANT };
	static const struct option opts[] = {
		{ "async", no_argument, NULL, O_ASYNC },
		{ "data", required_argument, NULL, O_DATA },
		{ "encrypted", no_argument, NULL, O_ENCRYPTED },
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "tenant", required_argument, NULL, O_TENANT },
		CLI_VERSION_OPTION,
		CLI_GLOBAL_OPTIONS,
	};
	bool async = false, encrypted = false;
	const char *data = NULL;
	struct sealed_opts so = { .tenant = getenv("DITTO_TENANT") };
	int c, r;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_ASYNC: async = true; break;
		case O_DATA: data = optarg; break;
		case O_ENCRYPTED: encrypted = true; break;
		case O_E2E_KEY: so.key_file = optarg; break;
		case O_TENANT: so.tenant = optarg; break;
		default: return cli_opt_default(cmd, c);
		}
	}
	char path[CLI_PATH_SIZE];
	if ((r = cli_need_args(cmd, argc, argv, 1, 2)) ||
	    (r = cli_path(cmd, "/v1/functions/%s/invoke", "NAME", argv[optind], path)))
		return r;
	/* The input as the argument after NAME, or --data. */
	if (optind + 1 < argc && data)
		return cli_usage_error(cmd, "give the input as INPUT or --data, not both");
	if (optind + 1 < argc)
		data = argv[optind + 1];
	if (!data)
		data = "{}";
	if (!encrypted && so.key_file)
		return cli_usage_error(cmd, "--e2e-key goes with --encrypted");
	if (async)
		cli_query_add(path, "async", "true");
	if (cli->version)
		cli_query_add(path, "version", cli->version);

	struct buf input = { 0 };
	int code = load_input(data, &input);
	if (code) {
		buf_free(&input);
		return code;
	}
	struct http_request rq = {
		.method = "POST",
		.path = path,
		.body = input.data ? (const void *)input.data : "",
		.body_len = input.len,
		.content_type = input_content_type(&input),
		/* A synchronous call lasts as long as the function may run. */
		.timeout_ms = async ? CLI_CALL_TIMEOUT_MS : 0,
	};
	struct http_response resp;
	/* Encrypted, the answer's body is the opened result. */
	if (encrypted)
		code = sealed_invoke(cli, cmd, &so, argv[optind], path, &input, async, &resp);
	else
		code = cli_send(cli, &rq, &resp);
	buf_free(&input);
	if (code == CLI_EXIT_FUNCTION && cli->json) {
		/* The error body names the invocation, whose record has the log. */
		json_t *o = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		if (o)
			cli_print_json(o);
		json_decref(o);
	} else if (code == CLI_EXIT_OK && async) {
		json_t *o = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		const char *id = field_str(o, "id");
		if (!id)
			code = cli_fail(
				CLI_EXIT_API,
				"the controller accepted the invocation but sent no id (HTTP %ld)",
				resp.status);
		else
			code = cli_print_result(cli, o, "%s\n", id);
		json_decref(o);
	} else if (code == CLI_EXIT_OK && cli->json) {
		json_t *o = sync_summary(&resp);
		code = cli_print_json(o);
		json_decref(o);
	} else if (code == CLI_EXIT_OK) {
		/* The result as the function wrote it, ending a line. */
		fwrite(resp.body.data ? (const void *)resp.body.data : "", 1, resp.body.len,
		       stdout);
		if (resp.body.len == 0 || resp.body.data[resp.body.len - 1] != '\n')
			putchar('\n');
	}
	http_response_free(&resp);
	return code;
}

const struct cli_command cmd_invoke = {
	"invoke",
	"NAME [INPUT] [--async] [--data JSON|@FILE|@-] [--version V] "
	"[--encrypted [--e2e-key FILE] [--tenant T]]",
	"invoke a function and print its result, or with --async its invocation id",
	"The input is INPUT or the --data text, the contents of FILE, or standard input (@-);\n"
	"without either it is {}. A synchronous call prints the function's result on stdout; with --json\n"
	"it prints one object instead: id, status, cold_start, timing (from the X-Ditto-* headers),\n"
	"result and result_encoding. A failed function exits 4 (with --json its error object\n"
	"is printed, naming the invocation whose log `ditto logs ID` shows).\n\n"
	"options:\n"
	"  --async        queue the invocation and print its id at once\n"
	"  --data INPUT   JSON text, @FILE, or @- for standard input\n"
	"  --version V    run version V instead of the latest\n"
	"  --encrypted    for a function deployed --encrypted: attest the tenant's VMs with a\n"
	"                 fresh nonce (as ditto attest), seal the input to the key of each VM\n"
	"                 whose evidence verified, and open the result, sealed to a client key\n"
	"                 of this invocation alone; the platform sees ciphertext only. Evidence\n"
	"                 of type none (no SEV-SNP hardware) prints NOT CONFIDENTIAL and goes\n"
	"                 on, unless the tenant requires attestation\n"
	"  --e2e-key FILE the tenant secret (default $DITTO_E2E_KEY, else\n"
	"                 ~/.config/ditto/TENANT.e2e-key)\n"
	"  --tenant T     the function's tenant (default $DITTO_TENANT)\n",
	run_invoke,
};

/* ---- invocations ----------------------------------------------------------------------- */

static void invocation_row(struct table *t, const json_t *inv)
{
	char total[32] = "-", age[32];
	const char *st = field_str(inv, "status");
	int64_t us = field_int(json_object_get(inv, "timing"), "total_us", -1);
	if (us >= 0 && st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
		fmt_us(us, total, sizeof(total));
	table_add(t, "%s", or_dash(field_str(inv, "id")));
	table_add(t, "%s", or_dash(field_str(inv, "function")));
	table_add(t, "%lld", (long long)field_int(inv, "version", 0));
	table_add(t, "%s", or_dash(st));
	table_add(t, "%s", field_bool(inv, "cold_start") ? "yes" : "no");
	table_add(t, "%s", total);
	table_add(t, "%s", or_dash(field_str(inv, "host")));
	table_add(t, "%s", fmt_age(field_int(inv, "created_ms", 0), age, sizeof(age)));
}

static int run_invocations(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const header[] = {
		"ID", "FUNCTION", "VERSION", "STATUS", "COLD", "TOTAL", "HOST", "AGE", NULL,
	};
	enum { O_STATUS = OPT_FIRST_COMMAND, O_LIMIT, O_CURSOR };
	static const struct option opts[] = {
		{ "status", required_argument, NULL, O_STATUS },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "cursor", required_argument, NULL, O_CURSOR },
		CLI_GLOBAL_OPTIONS,
	};
	char status[CLI_ESC_SIZE] = "", cursor[CLI_ESC_SIZE] = "", fn[CLI_ESC_SIZE] = "";
	const char *limit = NULL;
	int c, r;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_STATUS:
			if ((r = cli_escape(cmd, "--status", optarg, status)))
				return r;
			break;
		case O_CURSOR:
			if ((r = cli_escape(cmd, "--cursor", optarg, cursor)))
				return r;
			break;
		case O_LIMIT:
			if ((r = cli_check_positive(cmd, "--limit", optarg, UINT32_MAX, &limit)))
				return r;
			break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((r = cli_need_args(cmd, argc, argv, 0, 1)))
		return r;
	if (optind < argc && (r = cli_escape(cmd, "NAME", argv[optind], fn)))
		return r;
	char path[CLI_PATH_SIZE] = "/v1/invocations";
	if (fn[0])
		cli_query_add(path, "function", fn);
	if (status[0])
		cli_query_add(path, "status", status);
	if (limit)
		cli_query_add(path, "limit", limit);
	if (cursor[0])
		cli_query_add(path, "cursor", cursor);
	json_t *o = NULL;
	int code = cli_call(cli, "GET", path, NULL, &o);
	if (code)
		return code;
	code = cli_print_list(cli, o, "invocations", header, invocation_row);
	const char *next = field_str(o, "next_cursor");
	if (code == CLI_EXIT_OK && !cli->json && next && *next)
		fprintf(stderr, "more records: repeat with --cursor %s\n", next);
	json_decref(o);
	return code;
}

const struct cli_command cmd_invocations = {
	"invocations",
	"[NAME] [--status S] [--limit N] [--cursor C]",
	"list invocation records, newest first (of every function, or of NAME)",
	"options:\n"
	"  --status S     only records in status S: queued, running, ok, error or timeout\n"
	"  --limit N      at most N records (1..1000, default 50)\n"
	"  --cursor C     the page after the one that named cursor C\n",
	run_invocations,
};

/* ---- invocation, logs ------------------------------------------------------------------ */

/* How a record's error reads: "code: message", or the string it is. */
static void error_text(const json_t *rec, char *out, size_t size)
{
	json_t *e = json_object_get(rec, "error");
	if (json_is_string(e))
		snprintf(out, size, "%s", json_string_value(e));
	else if (json_is_object(e))
		snprintf(out, size, "%s: %s", or_dash(field_str(e, "code")),
			 or_dash(field_str(e, "message")));
	else
		snprintf(out, size, "-");
}

/* The result's first line fits the block; --json has all of it. */
static void result_cell(struct table *t, const json_t *rec)
{
	uint8_t *res = NULL;
	size_t len = 0;
	const char *enc = field_str(rec, "result_encoding");
	if (payload_from_json((json_t *)rec, "result", "result_encoding", &res, &len) < 0 || !res ||
	    len == 0) {
		table_add(t, "-");
	} else if (enc && strcmp(enc, "base64") == 0) {
		table_add(t, "%zu bytes, not UTF-8 (see --json)", len);
	} else {
		/* The first line ends at a line break (or a NUL, which ends
		 * what printf shows of it). */
		const char *text = (const char *)res;
		size_t line = 0, rest;
		while (line < len && text[line] != '\r' && text[line] != '\n' && text[line])
			line++;
		for (rest = line; rest < len && (text[rest] == '\r' || text[rest] == '\n'); rest++)
			;
		if (rest < len)
			table_add(t, "%.*s ... (%zu bytes, see --json)", (int)line, text, len);
		else
			table_add(t, "%.*s", (int)line, text);
	}
	free(res);
}

/* An exception the function raised: its type and message on one row, its
 * traceback one line a row below. Nothing when there is none. */
static void exception_rows(struct table *t, const json_t *ex)
{
	if (!json_is_object(ex))
		return;
	const char *msg = field_str(ex, "message"), *tb = field_str(ex, "traceback");
	table_add(t, "Exception:");
	table_add(t, "%s%s%s", or_dash(field_str(ex, "type")), msg && *msg ? ": " : "",
		  msg ? msg : "");
	const char *label = "Traceback:";
	while (tb && *tb) {
		size_t n = strcspn(tb, "\r\n");
		if (n > 0) {
			table_add(t, "%s", label);
			table_add(t, "%.*s", (int)n, tb);
			label = "";
		}
		tb += n;
		tb += strspn(tb, "\r\n");
	}
}

static void invocation_block(struct table *t, const json_t *rec)
{
	const json_t *tm = json_object_get(rec, "timing");
	char a[40], b[40], c[40], d[40], err[600];
	table_row(t, "ID:", field_str(rec, "id"));
	table_add(t, "Function:");
	table_add(t, "%s (version %lld)", or_dash(field_str(rec, "function")),
		  (long long)field_int(rec, "version", 0));
	table_row(t, "Status:", field_str(rec, "status"));
	error_text(rec, err, sizeof(err));
	table_row(t, "Error:", err);
	exception_rows(t, json_object_get(rec, "exception"));
	table_add(t, "Async:");
	table_add(t, "%s (retries %lld)", field_bool(rec, "async") ? "yes" : "no",
		  (long long)field_int(rec, "retries", 0));
	table_add(t, "Ran on:");
	int64_t cpu = field_int(rec, "cpu", -1);
	table_add(t, "host %s, vm %s, cpu %s", or_dash(field_str(rec, "host")),
		  or_dash(field_str(rec, "vm")),
		  cpu >= 0 ? (snprintf(a, sizeof(a), "%lld", (long long)cpu), a) : "-");
	const json_t *ms = json_object_get(rec, "vcpu_ms");
	if (json_is_object(ms)) {
		table_add(t, "VM then:");
		table_add(t, "%lld worker vCPUs, %.1f vCPU-s allocated, %.1f busy",
			  (long long)field_int(rec, "workers", 0),
			  (double)field_int(ms, "allocated", 0) / 1000.0,
			  (double)field_int(ms, "busy", 0) / 1000.0);
	}
	table_row(t, "Cold start:", field_bool(rec, "cold_start") ? "yes" : "no");
	table_row(t, "Created:", fmt_time(field_int(rec, "created_ms", 0), a, sizeof(a)));
	table_row(t, "Started:", fmt_time(field_int(rec, "started_ms", 0), a, sizeof(a)));
	table_row(t, "Finished:", fmt_time(field_int(rec, "finished_ms", 0), a, sizeof(a)));
	table_add(t, "Timing:");
	table_add(t, "queued %s, cold start %s, exec %s, total %s",
		  fmt_us(field_int(tm, "queued_us", 0), a, sizeof(a)),
		  fmt_us(field_int(tm, "cold_start_us", 0), b, sizeof(b)),
		  fmt_us(field_int(tm, "exec_us", 0), c, sizeof(c)),
		  fmt_us(field_int(tm, "total_us", 0), d, sizeof(d)));
	if (field_str(rec, "sealed_by")) {
		table_add(t, "Sealed by:");
		table_add(t, "VM key %s (see ditto attest --json)", field_str(rec, "sealed_by"));
	}
	table_add(t, "Result:");
	result_cell(t, rec);
	table_add(t, "Log:");
	json_t *log = json_object_get(rec, "log");
	table_add(t, "%zu bytes (ditto logs %s)", json_is_string(log) ? json_string_length(log) : 0,
		  or_dash(field_str(rec, "id")));
}

/* Parses the arguments of a command that reads one record (ID and the
 * tenant secret's options), fetches it and opens an encrypted one's result
 * and log when a tenant secret is named. Returns the exit code, with the
 * record in *ret (NULL when only the help was asked for). */
static int record_get(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		      json_t **ret)
{
	enum { O_E2E_KEY = OPT_FIRST_COMMAND, O_TENANT };
	static const struct option opts[] = {
		{ "e2e-key", required_argument, NULL, O_E2E_KEY },
		{ "tenant", required_argument, NULL, O_TENANT },
		CLI_GLOBAL_OPTIONS,
	};
	struct sealed_opts so = { .tenant = getenv("DITTO_TENANT") };
	bool open = getenv("DITTO_E2E_KEY") && *getenv("DITTO_E2E_KEY");
	char path[CLI_PATH_SIZE];
	int c, code;
	*ret = NULL;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_E2E_KEY: so.key_file = optarg, open = true; break;
		case O_TENANT: so.tenant = optarg, open = true; break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((code = cli_path_args(cmd, argc, argv, 1, "/v1/invocations/%s", "ID", path)) ||
	    (code = cli_call(cli, "GET", path, NULL, ret)))
		return code;
	if (open && (code = sealed_record_open(cli, cmd, &so, *ret))) {
		json_decref(*ret);
		*ret = NULL;
	}
	return code;
}

#define RECORD_HELP                                                                            \
	"options:\n"                                                                           \
	"  --e2e-key FILE   open an encrypted invocation's result and log with the tenant\n"   \
	"                   secret (default $DITTO_E2E_KEY; they are sealed to a client key\n" \
	"                   derived from it and the invocation's id)\n"                        \
	"  --tenant T       or the secret ~/.config/ditto/T.e2e-key\n"

static int run_invocation(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	json_t *rec = NULL;
	int code = record_get(cli, cmd, argc, argv, &rec);
	if (code || !rec)
		return code;
	code = cli_print_object(cli, rec, invocation_block);
	json_decref(rec);
	return code;
}

const struct cli_command cmd_invocation = {
	"invocation",
	"ID [--e2e-key FILE]",
	"show an invocation's record: status, where it ran, timing, result",
	RECORD_HELP,
	run_invocation,
};

const struct cli_command cmd_invocation_get = {
	"invocation get", "ID [--e2e-key FILE]", "the same as ditto invocation ID",
	RECORD_HELP,      run_invocation,
};

static int run_logs(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	json_t *rec = NULL;
	int code = record_get(cli, cmd, argc, argv, &rec);
	if (code || !rec)
		return code;
	uint8_t *log = NULL;
	size_t len = 0;
	if (cli->json)
		code = cli_print_json(rec);
	else if (payload_from_json(rec, "log", "log_encoding", &log, &len) < 0)
		code = cli_fail(CLI_EXIT_API, "the record's log is not valid base64");
	else if (len && fwrite(log, 1, len, stdout) != len)
		code = cli_fail(CLI_EXIT_API, "cannot write the output");
	free(log);
	json_decref(rec);
	return code;
}

const struct cli_command cmd_logs = {
	"logs",
	"ID [--e2e-key FILE]",
	"print an invocation's log (the function's stderr) as it was written",
	RECORD_HELP,
	run_logs,
};
