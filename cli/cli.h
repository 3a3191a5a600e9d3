/* The `ditto` command line: the parsed options every command shares, the
 * command table's shape, option parsing, and calls to the controller with
 * the one way errors are reported and turned into exit codes. */
#ifndef DITTO_CLI_H
#define DITTO_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http.h"
#include "output.h"

/* Exit codes, documented in `ditto --help`. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_API = 1,         /* the API refused, or something failed locally */
	CLI_EXIT_USAGE = 2,       /* bad command line or configuration */
	CLI_EXIT_UNREACHABLE = 3, /* no HTTP answer from the controller */
	CLI_EXIT_FUNCTION = 4,    /* the function failed or timed out */
};

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
/* Path segments (names, ids, cursors) longer than this are refused. */
#define CLI_ARG_MAX 255
#define CLI_ESC_SIZE (CLI_ARG_MAX * 3 + 1)
/* A path with up to four escaped arguments always fits. */
#define CLI_PATH_SIZE 4096
/* Quick calls (everything but deploy and synchronous invoke) give up after
 * this; those two wait as long as the controller takes. */
#define CLI_CALL_TIMEOUT_MS 60000L

/* The parsed options: global flags, the environment and the env file. */
struct cli {
	const char *url;
	const char *key;
	bool json;
	const char *version;               /* --version V, of the commands that take it; checked */
	char file_url[512], file_key[256]; /* what the env file set */
	struct http_client http;
	bool http_ready;
};

struct cli_command;
/* Runs a command on its arguments; argv[0] is the command's last word.
 * Returns the exit code. */
typedef int cli_run_fn(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

struct cli_command {
	const char *name;    /* "deploy", "tenant create" */
	const char *args;    /* "NAME FILE [--timeout MS] ..." */
	const char *summary; /* one line for `ditto --help` */
	const char *help;    /* the command's own options, or NULL */
	cli_run_fn *run;
};

/* Every command, defined next to its code. */
extern const struct cli_command cmd_deploy, cmd_functions, cmd_get, cmd_delete;
extern const struct cli_command cmd_invoke, cmd_invocations, cmd_invocation, cmd_invocation_get,
	cmd_logs;
extern const struct cli_command cmd_tenant_create, cmd_tenant_list, cmd_tenant_get, cmd_key_create,
	cmd_key_list, cmd_key_revoke, cmd_scale;
extern const struct cli_command cmd_hosts, cmd_hosts_drain, cmd_hosts_undrain, cmd_hosts_remove;
extern const struct cli_command cmd_artifacts_gc;
extern const struct cli_command cmd_up, cmd_down;
extern const struct cli_command cmd_measure;
extern const struct cli_command cmd_attest;

/* Option vals of the global flags; command options use other vals. */
enum { OPT_URL = 0x100, OPT_KEY, OPT_JSON, OPT_HELP, OPT_VERSION, OPT_FIRST_COMMAND = 0x200 };

/* Ends every option table: the global flags, accepted by every command. */
/* clang-format off */
#define CLI_GLOBAL_OPTIONS                               \
	{ "url", required_argument, NULL, OPT_URL },     \
	{ "key", required_argument, NULL, OPT_KEY },     \
	{ "json", no_argument, NULL, OPT_JSON },         \
	{ "help", no_argument, NULL, OPT_HELP },         \
	{ NULL, 0, NULL, 0 }

/* --version V: a function's version, for the commands that name one. */
#define CLI_VERSION_OPTION { "version", required_argument, NULL, OPT_VERSION }
/* clang-format on */

/* getopt_long over a command's arguments (options may come before or after
 * the positional ones). Handles the global flags and CLI_VERSION_OPTION
 * (into cli->version, after checking it) itself. Returns the next
 * command option's val (optarg as with getopt), -1 when the options are
 * over (the positional arguments are then argv[optind..argc)), OPT_HELP for
 * --help or -h, or '?' after printing a usage error. */
int cli_getopt(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
	       const struct option *opts);

/* Checks that there are min..max positional arguments left after the
 * options. Returns 0, or CLI_EXIT_USAGE after printing why. */
int cli_need_args(const struct cli_command *cmd, int argc, char **argv, int min, int max);

/* What a command's option loop does with a value of cli_getopt it does not
 * handle itself: prints the help for OPT_HELP and returns CLI_EXIT_OK; for
 * anything else (a usage error, printed already) returns CLI_EXIT_USAGE. */
int cli_opt_default(const struct cli_command *cmd, int c);

/* Parses the arguments of a command whose options cli_getopt handles all by
 * itself (those in opts, which ends with CLI_GLOBAL_OPTIONS) and min..max
 * positional arguments (argv[optind..argc) after it). Returns -1 when the
 * command goes on, else its exit code: CLI_EXIT_OK after printing the help,
 * CLI_EXIT_USAGE after printing a usage error. */
int cli_parse_shared(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		     const struct option *opts, int min, int max);

/* cli_parse_shared for a command without options of its own: the global
 * flags only. */
int cli_parse_plain(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, int min,
		    int max);

/* Prints "ditto NAME: <message> (see ditto NAME --help)" on stderr and
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints the command's help on stdout and returns CLI_EXIT_OK. */
int cli_help(const struct cli_command *cmd);

/* Prints the help lines of the global flags. */
void cli_print_global_options(FILE *f);

/* Checks that the value of option name (as the user wrote it) is a decimal
 * integer in 1..max and stores value in *ret_value. Returns 0, or
 * CLI_EXIT_USAGE after printing that it is not (*ret_value untouched); the
 * controller checks the actual range. */
int cli_check_positive(const struct cli_command *cmd, const char *name, const char *value,
		       unsigned long long max, const char **ret_value);

/* Percent-encodes a positional argument for a path or query. Returns 0, or
 * CLI_EXIT_USAGE after printing that it is too long. */
int cli_escape(const struct cli_command *cmd, const char *what, const char *s,
	       char out[CLI_ESC_SIZE]);

/* Writes into ret_path (CLI_PATH_SIZE bytes) the API path fmt, whose only
 * conversion is one %s, with the positional argument arg percent-encoded in
 * its place. Returns 0, or CLI_EXIT_USAGE as cli_escape (what names arg). */
int cli_path(const struct cli_command *cmd, const char *fmt, const char *what, const char *arg,
	     char ret_path[CLI_PATH_SIZE]) __attribute__((format(printf, 2, 0)));

/* Checks that exactly n (at least 1) positional arguments are left after the
 * options and writes into ret_path the API path fmt with the first of them
 * in place of its %s, as cli_path. Returns 0 or CLI_EXIT_USAGE after
 * printing why. */
int cli_path_args(const struct cli_command *cmd, int argc, char **argv, int n, const char *fmt,
		  const char *what, char ret_path[CLI_PATH_SIZE])
	__attribute__((format(printf, 5, 0)));

/* Reads the DITTO_URL and DITTO_KEY lines of the env file at path into url
 * and key (key may be NULL); what the file does not set is left as it was.
 * Returns false when the file cannot be opened. */
bool cli_env_file_read(const char *path, char *url, size_t url_size, char *key, size_t key_size);

/* Fills in the URL and key from the environment (DITTO_URL, DITTO_KEY) and,
 * when DITTO_KEY is unset, from the env file (DITTO_ENV, or ./data/ditto.env
 * when it exists); flags given later override both. */
void cli_config_load(struct cli *cli);

/* Sends one request to the controller. Returns 0 with the 2xx answer in
 * *ret. Otherwise prints one line on stderr and returns the exit code:
 * CLI_EXIT_UNREACHABLE when no answer came, CLI_EXIT_FUNCTION for
 * function_error or function_timeout, CLI_EXIT_API for other answers (or
 * CLI_EXIT_USAGE when no key is configured). *ret holds any answer that
 * came, 2xx or not; the caller always frees it. */
int cli_send(struct cli *cli, const struct http_request *rq, struct http_response *ret);

/* cli_send that also parses the 2xx answer, which must be a JSON object,
 * into *ret (the caller decrefs). Returns as cli_send. */
int cli_send_json(struct cli *cli, const struct http_request *rq, json_t **ret);

/* Appends "?key=value" or "&key=value" to path (CLI_PATH_SIZE bytes);
 * value is escaped already (cli_escape). */
void cli_query_add(char *path, const char *key, const char *value);

/* cli_send for a JSON exchange: body (NULL for none) is sent as JSON, and
 * the answer must be a JSON object, stored in *ret (the caller decrefs).
 * Returns as cli_send. */
int cli_call(struct cli *cli, const char *method, const char *path, const json_t *body,
	     json_t **ret);

/* Runs a command that takes one positional argument and no options of its
 * own: parses them as cli_parse_plain, then sends method on the path fmt
 * with the argument in place of its %s (what names it in usage errors), as
 * cli_call. Returns the exit code, with the answer in *ret (the caller
 * decrefs); *ret stays NULL when only the help was asked for. */
int cli_call_arg(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const char *method, const char *fmt, const char *what, json_t **ret)
	__attribute__((format(printf, 6, 0)));

/* Prints "ditto: <message>" on stderr and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_fail with the message's arguments in ap. */
int cli_vfail(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Prints v as the --json output (NULL means it could not be built). Returns
 * an exit code, reporting a failure. */
int cli_print_json(const json_t *v);

/* Prints the table, or reports running out of memory. Returns an exit code;
 * frees the table either way. */
int cli_print_table(struct table *t);

/* Adds the cells of one table row for item, an element of a list. */
typedef void cli_row_fn(struct table *t, const json_t *item);

/* Adds the label/value rows that show object o to a two-column table. */
typedef void cli_block_fn(struct table *t, const json_t *o);

/* Prints object o: with --json as it is, else as the label/value block
 * that fill makes. Returns an exit code; o stays the caller's. */
int cli_print_object(const struct cli *cli, const json_t *o, cli_block_fn *fill);

/* Runs a command that shows one object: GETs the path fmt with the only
 * positional argument in it, as cli_call_arg, and prints the answer with
 * cli_print_object. Returns the exit code. */
int cli_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv, const char *fmt,
	     const char *what, cli_block_fn *fill) __attribute__((format(printf, 5, 0)));

/* Prints the answer o of a command that changed something: with --json the
 * whole answer, else the printf-style line fmt on stdout. Returns an exit
 * code; o stays the caller's. */
int cli_print_result(const struct cli *cli, const json_t *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints the list that the array member key of answer o holds: with --json
 * the whole answer; else, when the list is empty, "no KEY" on stderr (the
 * API names its lists by the plural noun); else a table of the titles in
 * header (NULL-terminated) above one row per element, which row fills with
 * as many cells. Returns an exit code. */
int cli_print_list(const struct cli *cli, const json_t *o, const char *key,
		   const char *const header[], cli_row_fn *row);

/* GETs path and prints the list in the answer with cli_print_list. Returns
 * an exit code. */
int cli_list(struct cli *cli, const char *path, const char *key, const char *const header[],
	     cli_row_fn *row);

/* Runs a command that takes no arguments and lists what GET path answers,
 * as cli_list. Returns the exit code. */
int cli_run_list(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const char *path, const char *key, const char *const header[], cli_row_fn *row);

#endif
