#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENV_FILE "data/ditto.env"

int cli_vfail(int code, const char *fmt, va_list ap)
{
	fputs("ditto: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return code;
}

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vfail(code, fmt, ap);
	va_end(ap);
	return code;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ditto %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see ditto %s --help)\n", cmd->name);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

void cli_print_global_options(FILE *f)
{
	fputs("global options:\n"
	      "  --url URL     the controller (default $DITTO_URL, else " CLI_DEFAULT_URL ")\n"
	      "  --key KEY     API key: the admin key or a tenant key (default $DITTO_KEY)\n"
	      "  --json        print the API's JSON instead of tables\n"
	      "  --help, -h    show help\n",
	      f);
}

int cli_help(const struct cli_command *cmd)
{
	printf("usage: ditto %s%s%s\n\n%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
	       cmd->summary);
	if (cmd->help)
		printf("\n%s", cmd->help);
	putchar('\n');
	cli_print_global_options(stdout);
	return CLI_EXIT_OK;
}

int cli_getopt(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
	       const struct option *opts)
{
	/* getopt's own messages would not follow the one-line format. */
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":h", opts, NULL);
		switch (c) {
		case OPT_URL: cli->url = optarg; break;
		case OPT_KEY: cli->key = optarg; break;
		case OPT_JSON: cli->json = true; break;
		case OPT_VERSION:
			if (cli_check_positive(cmd, "--version", optarg, INT64_MAX, &cli->version))
				return '?';
			break;
		case 'h':
		case OPT_HELP: return OPT_HELP;
		case ':': cli_usage_error(cmd, "%s needs a value", argv[optind - 1]); return '?';
		case '?':
			if (optopt > 0 && optopt < 0x100)
				cli_usage_error(cmd, "unknown option -%c", optopt);
			else if (optopt)
				cli_usage_error(cmd, "option %s takes no value", argv[optind - 1]);
			else
				cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
			return '?';
		default: return c;
		}
	}
}

int cli_need_args(const struct cli_command *cmd, int argc, char **argv, int min, int max)
{
	int n = argc - optind;
	if (n < min)
		return cli_usage_error(cmd, "missing arguments: usage is ditto %s %s", cmd->name,
				       cmd->args);
	if (n > max)
		return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind + max]);
	return 0;
}

int cli_opt_default(const struct cli_command *cmd, int c)
{
	return c == OPT_HELP ? cli_help(cmd) : CLI_EXIT_USAGE;
}

int cli_parse_shared(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		     const struct option *opts, int min, int max)
{
	int c = cli_getopt(cli, cmd, argc, argv, opts);
	if (c != -1)
		return cli_opt_default(cmd, c);
	int r = cli_need_args(cmd, argc, argv, min, max);
	return r ? r : -1;
}

int cli_parse_plain(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, int min,
		    int max)
{
	static const struct option opts[] = { CLI_GLOBAL_OPTIONS };
	return cli_parse_shared(cli, cmd, argc, argv, opts, min, max);
}

int cli_check_positive(const struct cli_command *cmd, const char *name, const char *value,
		       unsigned long long max, const char **ret_value)
{
	uint64_t v;
	if (parse_u64(value, 1, max, &v) < 0)
		return cli_usage_error(cmd, "%s must be a positive integer, got \"%s\"", name,
				       value);
	*ret_value = value;
	return 0;
}

int cli_escape(const struct cli_command *cmd, const char *what, const char *s,
	       char out[CLI_ESC_SIZE])
{
	if (strlen(s) > CLI_ARG_MAX || http_escape(s, out, CLI_ESC_SIZE) < 0)
		return cli_usage_error(cmd, "%s is longer than %d characters", what, CLI_ARG_MAX);
	return 0;
}

int cli_path(const struct cli_command *cmd, const char *fmt, const char *what, const char *arg,
	     char ret_path[CLI_PATH_SIZE])
{
	char e[CLI_ESC_SIZE];
	int r = cli_escape(cmd, what, arg, e);
	if (r)
		return r;
	snprintf(ret_path, CLI_PATH_SIZE, fmt, e);
	return 0;
}

int cli_path_args(const struct cli_command *cmd, int argc, char **argv, int n, const char *fmt,
		  const char *what, char ret_path[CLI_PATH_SIZE])
{
	int r = cli_need_args(cmd, argc, argv, n, n);
	return r ? r : cli_path(cmd, fmt, what, argv[optind], ret_path);
}

/* Takes VALUE from a "NAME=VALUE" line (an "export " before it and quotes
 * around it are allowed). Returns false when the line sets something else. */
static bool env_line(const char *line, const char *name, char *out, size_t size)
{
	if (strncmp(line, "export ", 7) == 0)
		line += 7;
	size_t n = strlen(name);
	if (strncmp(line, name, n) != 0 || line[n] != '=')
		return false;
	const char *v = line + n + 1;
	size_t len = strcspn(v, "\r\n");
	if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
		v++;
		len -= 2;
	}
	if (len >= size)
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

bool cli_env_file_read(const char *path, char *url, size_t url_size, char *key, size_t key_size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		env_line(line, "DITTO_URL", url, url_size);
		if (key)
			env_line(line, "DITTO_KEY", key, key_size);
	}
	fclose(f);
	return true;
}

void cli_config_load(struct cli *cli)
{
	const char *url = getenv("DITTO_URL"), *key = getenv("DITTO_KEY");
	cli->url = url && *url ? url : NULL;
	cli->key = key && *key ? key : NULL;
	if (!cli->key) {
		const char *path = getenv("DITTO_ENV");
		if (!path || !*path)
			path = DEFAULT_ENV_FILE;
		if (cli_env_file_read(path, cli->file_url, sizeof(cli->file_url), cli->file_key,
				      sizeof(cli->file_key))) {
			if (!cli->url && cli->file_url[0])
				cli->url = cli->file_url;
			if (cli->file_key[0])
				cli->key = cli->file_key;
		}
	}
	if (!cli->url)
		cli->url = CLI_DEFAULT_URL;
}

/* Copies at most size-1 bytes of p[0..n) up to the first line break, with
 * other control characters blanked, so an error prints as one line. */
static void one_line(const char *p, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size && p[i] != '\n' && p[i] != '\r'; i++)
		out[o++] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? ' ' : p[i];
	out[o] = '\0';
}

static bool is_function_failure(const char *code)
{
	return strcmp(code, "function_error") == 0 || strcmp(code, "function_timeout") == 0;
}

/* Prints "ditto: <message> (<code>, HTTP <status>)" from an error answer,
 * naming the invocation when the answer concerns one. */
static int report_api_error(const struct http_response *r)
{
	json_t *o = r->body.len ? json_loadb((const char *)r->body.data, r->body.len, 0, NULL)
				: NULL;
	json_t *e = json_object_get(o, "error");
	const char *code = field_str(e, "code"), *msg = field_str(e, "message");
	const char *inv = field_str(e, "invocation") ? field_str(e, "invocation")
						     : field_str(o, "invocation");
	char text[512], id[128] = "";
	if (msg)
		one_line(msg, strlen(msg), text, sizeof(text));
	else if (r->body.len)
		one_line((const char *)r->body.data, r->body.len, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "no error details");
	if (!code)
		code = "http_error";
	/* The error object (or the body beside it) names the invocation; the
	 * header does too, for answers whose body is not the API's. */
	if (inv)
		one_line(inv, strlen(inv), id, sizeof(id));
	else
		http_response_header(r, "X-Ditto-Invocation-Id", id, sizeof(id));
	fprintf(stderr, "ditto: %s (%s, HTTP %ld%s%s)\n", text, code, r->status,
		id[0] ? ", invocation " : "", id);
	int exit_code = is_function_failure(code) ? CLI_EXIT_FUNCTION : CLI_EXIT_API;
	json_decref(o);
	return exit_code;
}

static int client_ready(struct cli *cli)
{
	if (cli->http_ready)
		return 0;
	if (!cli->key)
		return cli_fail(CLI_EXIT_USAGE,
				"no API key: set DITTO_KEY, pass --key, or start a local platform "
				"with ditto up");
	if (strncmp(cli->url, "http://", 7) != 0 && strncmp(cli->url, "https://", 8) != 0)
		return cli_fail(
			CLI_EXIT_USAGE,
			"the controller URL must start with http:// or https://, got \"%s\"",
			cli->url);
	int r = http_client_init(&cli->http, cli->url, cli->key);
	if (r == -EINVAL)
		return cli_fail(CLI_EXIT_USAGE,
				"the controller URL is too long, or the key is malformed");
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot set up HTTP: %s", strerror(-r));
	cli->http_ready = true;
	return 0;
}

int cli_send(struct cli *cli, const struct http_request *rq, struct http_response *ret)
{
	*ret = (struct http_response){ 0 };
	int code = client_ready(cli);
	if (code)
		return code;
	int r = http_perform(&cli->http, rq, ret);
	if (r == -ECANCELED)
		return cli_fail(CLI_EXIT_API, "cannot read the request body: %s", cli->http.error);
	if (r == -ENOMEM || r == -ENAMETOOLONG)
		return cli_fail(CLI_EXIT_API, "%s", cli->http.error);
	if (r < 0)
		return cli_fail(CLI_EXIT_UNREACHABLE, "cannot reach the controller at %s: %s",
				cli->url, cli->http.error);
	if (ret->status < 200 || ret->status > 299)
		return report_api_error(ret);
	return 0;
}

int cli_send_json(struct cli *cli, const struct http_request *rq, json_t **ret)
{
	struct http_response resp;
	int code = cli_send(cli, rq, &resp);
	if (code == 0) {
		json_t *o = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		if (json_is_object(o))
			*ret = o;
		else {
			json_decref(o);
			code = cli_fail(CLI_EXIT_API,
					"the answer to %s %s is not a JSON object (HTTP %ld)",
					rq->method, rq->path, resp.status);
		}
	}
	http_response_free(&resp);
	return code;
}

int cli_call(struct cli *cli, const char *method, const char *path, const json_t *body,
	     json_t **ret)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text)
		return cli_fail(CLI_EXIT_API, "out of memory");
	struct http_request rq = {
		.method = method,
		.path = path,
		.body = text,
		.body_len = text ? strlen(text) : 0,
		.timeout_ms = CLI_CALL_TIMEOUT_MS,
	};
	int code = cli_send_json(cli, &rq, ret);
	free(text);
	return code;
}

int cli_call_arg(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const char *method, const char *fmt, const char *what, json_t **ret)
{
	char path[CLI_PATH_SIZE];
	*ret = NULL;
	int code = cli_parse_plain(cli, cmd, argc, argv, 1, 1);
	if (code >= 0)
		return code;
	if ((code = cli_path(cmd, fmt, what, argv[optind], path)))
		return code;
	return cli_call(cli, method, path, NULL, ret);
}

void cli_query_add(char *path, const char *key, const char *value)
{
	size_t n = strlen(path);
	snprintf(path + n, CLI_PATH_SIZE - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', key, value);
}

int cli_print_json(const json_t *v)
{
	if (!v)
		return cli_fail(CLI_EXIT_API, "out of memory");
	if (print_json(v) < 0)
		return cli_fail(CLI_EXIT_API, "cannot write the output");
	return CLI_EXIT_OK;
}

int cli_print_table(struct table *t)
{
	int r = table_print(t, stdout);
	table_free(t);
	if (r == -ENOMEM)
		return cli_fail(CLI_EXIT_API, "out of memory");
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot write the output");
	return CLI_EXIT_OK;
}

int cli_print_object(const struct cli *cli, const json_t *o, cli_block_fn *fill)
{
	if (cli->json)
		return cli_print_json(o);
	struct table t;
	table_init(&t, 2);
	fill(&t, o);
	return cli_print_table(&t);
}

int cli_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, const char *fmt,
	     const char *what, cli_block_fn *fill)
{
	json_t *o = NULL;
	int code = cli_call_arg(cli, cmd, argc, argv, "GET", fmt, what, &o);
	if (code || !o)
		return code;
	code = cli_print_object(cli, o, fill);
	json_decref(o);
	return code;
}

int cli_print_result(const struct cli *cli, const json_t *o, const char *fmt, ...)
{
	if (cli->json)
		return cli_print_json(o);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	return CLI_EXIT_OK;
}

int cli_print_list(const struct cli *cli, const json_t *o, const char *key,
		   const char *const header[], cli_row_fn *row)
{
	if (cli->json)
		return cli_print_json(o);
	json_t *list = json_object_get(o, key);
	if (json_array_size(list) == 0) {
		fprintf(stderr, "no %s\n", key);
		return CLI_EXIT_OK;
	}
	size_t ncols = 0;
	while (header[ncols])
		ncols++;
	struct table t;
	table_init(&t, ncols);
	for (size_t i = 0; i < ncols; i++)
		table_add(&t, "%s", header[i]);
	for (size_t i = 0; i < json_array_size(list); i++)
		row(&t, json_array_get(list, i));
	return cli_print_table(&t);
}

int cli_list(struct cli *cli, const char *path, const char *key, const char *const header[],
	     cli_row_fn *row)
{
	json_t *o = NULL;
	int code = cli_call(cli, "GET", path, NULL, &o);
	if (code)
		return code;
	code = cli_print_list(cli, o, key, header, row);
	json_decref(o);
	return code;
}

int cli_run_list(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const char *path, const char *key, const char *const header[], cli_row_fn *row)
{
	int code = cli_parse_plain(cli, cmd, argc, argv, 0, 0);
	return code >= 0 ? code : cli_list(cli, path, key, header, row);
}
