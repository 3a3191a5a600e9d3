/* The CLI command tests' shared part: a stand-in controller on loopback
 * (libmicrohttpd on its own thread) that records the last request (method,
 * path, its query's arguments, its body) and answers 200 with what the test
 * file's fake_answer makes of it; a scratch folder as HOME, so no secret of
 * the machine's user is ever read or made; and running a command in this
 * process with what it printed collected. Included by the tests that run
 * commands (each a program of its own, which defines fake_answer). */
#ifndef DITTO_TESTS_CLI_FAKE_API_H
#define DITTO_TESTS_CLI_FAKE_API_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>

#include "reply_json.h"
#include "support/files.h"
#include "util.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The answer to a request whose body is JSON body (NULL when it is not):
 * a new reference. Defined by the test file. */
static json_t *fake_answer(const char *method, const char *url, const json_t *body);

struct fake_api {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	int requests;
	char request[300]; /* "METHOD PATH" */
	char query[1024];  /* "k=v&k=v", decoded, in the order sent */
	json_t *body;      /* the last request's body as JSON, or NULL */
	size_t body_len;
};

static struct fake_api F;
static char dir[256];

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	char *q = cls;
	size_t n = strlen(q);
	snprintf(q + n, sizeof(F.query) - n, "%s%s=%s", n ? "&" : "", key, value ? value : "");
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct fake_api *f = cls;
	struct buf *in = *con_cls;
	if (!in) {
		*con_cls = calloc(1, sizeof(struct buf));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		buf_append(in, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	json_t *body = json_loadb((const char *)in->data, in->len, 0, NULL);
	size_t len = in->len;
	buf_free(in);
	free(in);
	*con_cls = NULL;
	json_t *answer = fake_answer(method, url, body);
	pthread_mutex_lock(&f->lock);
	f->requests++;
	snprintf(f->request, sizeof(f->request), "%s %s", method, url);
	f->query[0] = '\0';
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query_arg, f->query);
	json_decref(f->body);
	f->body = body;
	f->body_len = len;
	pthread_mutex_unlock(&f->lock);
	char *text = json_dumps(answer, 0);
	json_decref(answer);
	return reply_json(conn, text);
}

/* Makes the scratch folder (named after name), points HOME at it and
 * starts the stand-in controller. */
static int fake_setup(const char *name)
{
	if (scratch_dir(dir, sizeof(dir), name) < 0)
		return -1;
	pthread_mutex_init(&F.lock, NULL);
	F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &F,
			       MHD_OPTION_END);
	if (!F.d)
		return -1;
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(F.d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(F.url, sizeof(F.url), "http://127.0.0.1:%u", (unsigned)i->port);
	setenv("HOME", dir, 1);
	unsetenv("DITTO_E2E_KEY");
	unsetenv("DITTO_TENANT");
	return 0;
}

static int teardown(void **state)
{
	MHD_stop_daemon(F.d);
	json_decref(F.body);
	pthread_mutex_destroy(&F.lock);
	return remove_tree(dir);
}

/* What one command did: its exit code, its stdout and stderr (each without
 * its last newline), and the request the controller got (request "" and
 * body NULL when none came). */
struct ran {
	int code;
	char out[4096];
	char err[1024];
	json_t *body;
	size_t body_len;
	char request[300];
	char query[1024];
};

/* Runs a command (args NULL-terminated, args[0] its last word) in this
 * process, its stdout and stderr into files. */
static struct ran run(const struct cli_command *cmd, const char *const *args)
{
	char *argv[24], out[300], err[300];
	int argc = 0;
	while (args[argc] && argc < 23) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	assert_true(freopen(out, "w", stdout) != NULL);
	assert_true(freopen(err, "w", stderr) != NULL);
	pthread_mutex_lock(&F.lock);
	int before = F.requests;
	pthread_mutex_unlock(&F.lock);

	struct cli cli = { .url = F.url, .key = "admin-key" };
	optind = 0;
	struct ran r = { .code = cmd->run(&cli, cmd, argc, argv) };
	http_client_free(&cli.http);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	file_read_text(out, r.out, sizeof(r.out));
	file_read_text(err, r.err, sizeof(r.err));
	pthread_mutex_lock(&F.lock);
	if (F.requests > before) {
		r.body = json_incref(F.body);
		r.body_len = F.body_len;
		snprintf(r.request, sizeof(r.request), "%s", F.request);
		snprintf(r.query, sizeof(r.query), "%s", F.query);
	}
	pthread_mutex_unlock(&F.lock);
	return r;
}

/* The command was refused on its command line: exit 2, one stderr line
 * holding want, no request. */
static void refused(const struct cli_command *cmd, const char *const *args, const char *want)
{
	struct ran r = run(cmd, args);
	if (r.code != CLI_EXIT_USAGE || !strstr(r.err, want) || r.request[0])
		fail_msg("%s: exit %d, request \"%s\": %s", args[0], r.code, r.request, r.err);
	assert_null(strchr(r.err, '\n')); /* one line: its newline is stripped */
	json_decref(r.body);
}

#endif
