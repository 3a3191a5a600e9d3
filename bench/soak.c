/* ditto-bench soak: a steady load on a platform of its own for M minutes,
 * while the resident memory and open descriptors of the controller, the
 * agent and the tenant VM's QEMU are sampled; the figures say whether any of
 * them grows under a load that never changes, and every call must succeed.
 *
 * Unless --rate gives it, the offered rate is half the capacity measured
 * first (CAPACITY_CLIENTS closed-loop clients for CAPACITY_S seconds). The
 * load is open-loop: call i is due at start + i / rate whatever became of
 * the calls before it, sent by the first of SENDERS threads that is free; one
 * call in ASYNC_EVERY is asynchronous and its record is read until it ends.
 * Each call carries its own number, which the echo's result must return. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "platform.h"
#include "soak_proc.h"
#include "util.h"

#define SENDERS 16
#define CAPACITY_CLIENTS 4
#define CAPACITY_S 10
#define ASYNC_EVERY 10
#define CALL_TIMEOUT_MS 60000L
/* How long asynchronous calls still open at the end may take to finish. */
#define DRAIN_MS 120000L
/* The echo's max_concurrency: room for every sender's call and the
 * asynchronous ones running beside them, so that the load never meets the
 * function's limit (a 429). The tenant gets min(ROOM, host cores) worker
 * vCPUs (platform_tenant_setup). */
#define ROOM 64

struct soak_cli {
	int minutes, sample_s;
	double rate; /* 0: half the measured capacity */
	bool json;
	struct bench_opts o;
};

/* Failed calls by kind, e.g. "http_503", "transport", "wrong_result". */
#define ERROR_KINDS 16
struct soak_errors {
	char kind[ERROR_KINDS][32];
	long count[ERROR_KINDS];
	int n;
	long total;
};

/* An asynchronous call whose record has not ended yet. */
struct soak_async {
	char id[80];
	long token;
};

struct soak {
	const struct soak_cli *cli;
	struct platform p;
	double capacity, rate;
	long long start_us, end_us;
	atomic_long next;     /* the number of the next call due */
	pthread_mutex_t lock; /* guards what follows */
	long calls, async_calls;
	struct soak_errors errors;
	struct soak_async *open;
	size_t n_open, cap_open;
	struct soak_sample *samples;
	size_t n_samples, cap_samples;
};

static long long now_us(void)
{
	return (long long)time_now_us();
}

static void errors_add(struct soak *s, const char *kind)
{
	struct soak_errors *e = &s->errors;
	pthread_mutex_lock(&s->lock);
	e->total++;
	int i;
	for (i = 0; i < e->n && strcmp(e->kind[i], kind) != 0; i++)
		;
	if (i == e->n) {
		/* More kinds than slots: the last one takes the rest. */
		if (e->n == ERROR_KINDS)
			i = ERROR_KINDS - 1;
		else
			snprintf(e->kind[e->n++], sizeof(e->kind[0]), "%s", kind);
	}
	e->count[i]++;
	pthread_mutex_unlock(&s->lock);
}

/* Counts a failed call: an HTTP status that is not the one expected, or
 * no answer at all (-errno). */
static void errors_add_status(struct soak *s, int st)
{
	char kind[32];
	if (st == -ETIMEDOUT)
		snprintf(kind, sizeof(kind), "timeout");
	else if (st == -ECONNREFUSED)
		snprintf(kind, sizeof(kind), "connection_refused");
	else if (st == -ECONNRESET)
		snprintf(kind, sizeof(kind), "connection_reset");
	else if (st < 0)
		snprintf(kind, sizeof(kind), "transport");
	else
		snprintf(kind, sizeof(kind), "http_%d", st);
	errors_add(s, kind);
}

/* Whether v, what echo answered (a synchronous reply, or an asynchronous
 * record's result parsed), is the input of call number token. */
static bool echoes(json_t *v, long token)
{
	json_t *t = json_object_get(v, "soak");
	return json_is_integer(t) && json_integer_value(t) == token;
}

/* ---- one call ---------------------------------------------------------------- */

static void call_sync(struct soak *s, struct api_client *c, const char *body, long token)
{
	json_t *reply = NULL;
	int st = api_client_call(c, "POST", "/v1/functions/echo/invoke", body, strlen(body),
				 CALL_TIMEOUT_MS, &reply);
	if (st != 200)
		errors_add_status(s, st);
	else if (!echoes(reply, token))
		errors_add(s, "wrong_result");
	json_decref(reply);
}

static void call_async(struct soak *s, struct api_client *c, const char *body, long token)
{
	json_t *reply = NULL;
	int st = api_client_call(c, "POST", "/v1/functions/echo/invoke?async=true", body,
				 strlen(body), CALL_TIMEOUT_MS, &reply);
	const char *id = json_string_value(json_object_get(reply, "id"));
	if (st != 202 || !id || strlen(id) >= sizeof(s->open[0].id)) {
		if (st == 202)
			errors_add(s, "async_no_id");
		else
			errors_add_status(s, st);
		json_decref(reply);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->async_calls++;
	if (array_reserve(&s->open, &s->cap_open, s->n_open + 1, sizeof(*s->open), 256) == 0) {
		struct soak_async *a = &s->open[s->n_open++];
		snprintf(a->id, sizeof(a->id), "%s", id);
		a->token = token;
		id = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (id)
		errors_add(s, "out_of_memory");
	json_decref(reply);
}

/* A sender: takes the next call due, waits for its time and makes it. */
static void *sender_main(void *data)
{
	struct soak *s = data;
	struct api_client c;
	if (api_client_init(&c, s->p.url) < 0 || api_client_set_bearer(&c, s->p.tenant_key) < 0) {
		errors_add(s, "client");
		api_client_free(&c);
		return NULL;
	}
	for (;;) {
		long i = atomic_fetch_add(&s->next, 1);
		long long due = s->start_us + (long long)((double)i * 1e6 / s->rate);
		if (due >= s->end_us)
			break;
		long long wait = due - now_us();
		if (wait > 0)
			bench_sleep_ms((long)((wait + 999) / 1000));
		char body[64];
		snprintf(body, sizeof(body), "{\"soak\":%ld}", i);
		if (i % ASYNC_EVERY == ASYNC_EVERY - 1)
			call_async(s, &c, body, i);
		else
			call_sync(s, &c, body, i);
		pthread_mutex_lock(&s->lock);
		s->calls++;
		pthread_mutex_unlock(&s->lock);
	}
	api_client_free(&c);
	return NULL;
}

/* ---- asynchronous records ------------------------------------------------------ */

/* Reads one open call's record: true once it has ended (counted as an
 * error unless it ended ok with its own input echoed). */
static bool async_ended(struct soak *s, struct api_client *c, const struct soak_async *a)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/invocations/%s", a->id);
	json_t *rec = NULL;
	int st = api_client_call(c, "GET", path, NULL, 0, CALL_TIMEOUT_MS, &rec);
	const char *status = json_string_value(json_object_get(rec, "status"));
	bool ended = true;
	if (st != 200) {
		errors_add_status(s, st);
	} else if (!status) {
		errors_add(s, "bad_record");
	} else if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) {
		ended = false;
	} else if (strcmp(status, "ok") != 0) {
		char kind[32];
		snprintf(kind, sizeof(kind), "async_%s", status);
		errors_add(s, kind);
	} else {
		const char *text = json_string_value(json_object_get(rec, "result"));
		json_t *result = text ? json_loads(text, 0, NULL) : NULL;
		if (!echoes(result, a->token))
			errors_add(s, "wrong_result");
		json_decref(result);
	}
	json_decref(rec);
	return ended;
}

/* Reads the records of the asynchronous calls still open and forgets those
 * that ended. Returns how many remain open. */
static size_t async_check(struct soak *s, struct api_client *c)
{
	/* Senders append to a fresh list while these records are read. */
	pthread_mutex_lock(&s->lock);
	struct soak_async *batch = s->open;
	size_t n = s->n_open;
	s->open = NULL;
	s->n_open = s->cap_open = 0;
	pthread_mutex_unlock(&s->lock);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (!async_ended(s, c, &batch[i]))
			batch[kept++] = batch[i];
	pthread_mutex_lock(&s->lock);
	int r = array_reserve(&s->open, &s->cap_open, s->n_open + kept, sizeof(*s->open), 256);
	if (r == 0 && kept) {
		memcpy(s->open + s->n_open, batch, kept * sizeof(*batch));
		s->n_open += kept;
	}
	size_t left = s->n_open;
	pthread_mutex_unlock(&s->lock);
	free(batch);
	for (size_t i = 0; r < 0 && i < kept; i++)
		errors_add(s, "out_of_memory");
	return left;
}

/* Waits for the asynchronous calls still open after the load; those that
 * do not end in time count as errors. */
static void async_drain(struct soak *s, struct api_client *c)
{
	long long deadline = now_us() + DRAIN_MS * 1000LL;
	size_t left;
	while ((left = async_check(s, c)) > 0 && now_us() < deadline)
		bench_sleep_ms(200);
	for (size_t i = 0; i < left; i++)
		errors_add(s, "async_not_ended");
}

/* ---- capacity ------------------------------------------------------------------ */

struct capacity_client {
	struct soak *s;
	int index;
	long long end_us;
	long ok;
	pthread_t thread;
};

static void *capacity_main(void *data)
{
	struct capacity_client *cc = data;
	struct soak *s = cc->s;
	struct api_client c;
	if (api_client_init(&c, s->p.url) == 0 && api_client_set_bearer(&c, s->p.tenant_key) == 0) {
		for (long seq = 0; now_us() < cc->end_us; seq++) {
			char body[64];
			long token = -(cc->index * 1000000L + seq) - 1;
			snprintf(body, sizeof(body), "{\"soak\":%ld}", token);
			json_t *reply = NULL;
			int st = api_client_call(&c, "POST", "/v1/functions/echo/invoke", body,
						 strlen(body), CALL_TIMEOUT_MS, &reply);
			cc->ok += st == 200 && echoes(reply, token);
			json_decref(reply);
		}
	}
	api_client_free(&c);
	return NULL;
}

/* Calls echo back to back from CAPACITY_CLIENTS clients for CAPACITY_S
 * seconds: the calls that succeeded per second. */
static int capacity_measure(struct soak *s)
{
	struct capacity_client cc[CAPACITY_CLIENTS];
	long long t0 = now_us();
	int started = 0;
	for (; started < CAPACITY_CLIENTS; started++) {
		cc[started] = (struct capacity_client){ .s = s,
							.index = started,
							.end_us = t0 + CAPACITY_S * 1000000LL };
		if (pthread_create(&cc[started].thread, NULL, capacity_main, &cc[started]) != 0)
			break;
	}
	long ok = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(cc[i].thread, NULL);
		ok += cc[i].ok;
	}
	double elapsed = (double)(now_us() - t0) / 1e6;
	s->capacity = started == CAPACITY_CLIENTS && elapsed > 0 ? (double)ok / elapsed : 0;
	if (s->capacity <= 0) {
		fprintf(stderr, "ditto-bench: no call succeeded while measuring capacity\n");
		return -EIO;
	}
	return 0;
}

/* ---- the run ------------------------------------------------------------------- */

static int sample_take(struct soak *s, double t_s)
{
	if (array_reserve(&s->samples, &s->cap_samples, s->n_samples + 1, sizeof(*s->samples),
			  256) < 0)
		return -ENOMEM;
	const pid_t pids[SOAK_PROCS] = { s->p.controller.pid, s->p.agent.pid, s->p.qemu_pid };
	soak_sample_read(&s->samples[s->n_samples++], t_s, pids);
	return 0;
}

/* Runs the load from SENDERS threads until the end, sampling every
 * sample_s seconds and reading the asynchronous records between samples. */
static int soak_load(struct soak *s, struct api_client *reader)
{
	const struct soak_cli *cli = s->cli;
	pthread_t senders[SENDERS];
	int started = 0, r = 0;
	s->start_us = now_us();
	s->end_us = s->start_us + (long long)cli->minutes * 60 * 1000000LL;
	for (; started < SENDERS; started++)
		if (pthread_create(&senders[started], NULL, sender_main, s) != 0)
			break;
	if (started == 0) {
		fprintf(stderr, "ditto-bench: cannot start the senders\n");
		return -EAGAIN;
	}
	for (long k = 0; r == 0; k++) {
		long long t = s->start_us + k * cli->sample_s * 1000000LL;
		if (t > s->end_us)
			t = s->end_us;
		long long wait = t - now_us();
		if (wait > 0)
			bench_sleep_ms((long)((wait + 999) / 1000));
		if (sample_take(s, (double)(t - s->start_us) / 1e6) < 0)
			r = -ENOMEM;
		if (t == s->end_us)
			break;
		async_check(s, reader);
	}
	for (int i = 0; i < started; i++)
		pthread_join(senders[i], NULL);
	if (r == 0)
		async_drain(s, reader);
	return r;
}

/* ---- output -------------------------------------------------------------------- */

static double warmup_s(const struct soak_cli *cli)
{
	double w = cli->minutes * 60 * 0.2;
	return cli->minutes >= 5 && w < 60 ? 60 : w;
}

static json_t *report_json(const struct soak *s, const struct soak_summary sum[SOAK_PROCS])
{
	const struct soak_cli *cli = s->cli;
	json_t *errs = json_object();
	for (int i = 0; i < s->errors.n; i++)
		json_object_set_new(errs, s->errors.kind[i], json_integer(s->errors.count[i]));
	json_t *procs = json_array(), *samples = json_array();
	for (int k = 0; k < SOAK_PROCS; k++)
		json_array_append_new(procs, soak_summary_json(&sum[k], k));
	for (size_t i = 0; i < s->n_samples; i++)
		json_array_append_new(samples, soak_sample_json(&s->samples[i]));
	return json_pack(
		"{s:s, s:i, s:i, s:f, s:o, s:I, s:I, s:I, s:o, s:f, s:i, s:o, s:o}", "accel",
		s->p.accel, "workers", s->p.workers, "minutes", cli->minutes, "rate", s->rate,
		"capacity", s->capacity > 0 ? json_real(s->capacity) : json_null(), "calls",
		(json_int_t)s->calls, "async_calls", (json_int_t)s->async_calls, "errors",
		(json_int_t)s->errors.total, "errors_by_kind", errs, "warmup_s", warmup_s(cli),
		"sample_s", cli->sample_s, "processes", procs, "samples", samples);
}

static void report_text(const struct soak *s, const struct soak_summary sum[SOAK_PROCS])
{
	const struct soak_cli *cli = s->cli;
	printf("ditto-bench soak: echo (binary, persistent), accel=%s, %d worker vCPUs, %d min "
	       "at %.1f calls/s",
	       s->p.accel, s->p.workers, cli->minutes, s->rate);
	if (s->capacity > 0)
		printf(" (half the measured %.1f)", s->capacity);
	printf(", 1 in %d async\ncalls %ld (%ld async), errors %ld", ASYNC_EVERY, s->calls,
	       s->async_calls, s->errors.total);
	for (int i = 0; i < s->errors.n; i++)
		printf("%s%s x %ld", i ? ", " : ": ", s->errors.kind[i], s->errors.count[i]);
	printf("\nwarm-up %.0f s; samples every %d s\n\n", warmup_s(cli), cli->sample_s);
	soak_summary_print_header();
	for (int k = 0; k < SOAK_PROCS; k++)
		soak_summary_print(&sum[k], k);
}

/* ---- command line -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-bench soak --minutes M [--rate R] [--sample-s S] [--json]\n"
		"  a steady load of echo calls (1 in %d async) on a platform of its own for M\n"
		"  minutes, sampling the resident memory and open descriptors of the controller,\n"
		"  the agent and the VM's QEMU; exits non-zero when any call failed\n"
		"  --minutes M          how long the load runs (1..1440)\n"
		"  --rate R             calls per second (default: half the capacity measured\n"
		"                       first, %d clients back to back for %d s)\n"
		"  --sample-s S         seconds between samples (1..3600; default 10)\n"
		"  --build DIR          build folder (default build)\n"
		"  --data DIR           data folder (default: a fresh one under /tmp)\n"
		"  --accel auto|kvm|tcg, --cores SPEC   passed to the agent\n"
		"  --json               print one JSON object instead of a table\n",
		ASYNC_EVERY, CAPACITY_CLIENTS, CAPACITY_S);
}

/* Parses argv. Returns 0, 1 after --help, or 2 after one line on stderr. */
static int parse_args(struct soak_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "minutes", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "sample-s", required_argument, NULL, 's' },
		{ "build", required_argument, NULL, 'b' },
		{ "data", required_argument, NULL, 'd' },
		{ "accel", required_argument, NULL, 'a' },
		{ "cores", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*c = (struct soak_cli){ .sample_s = 10 };
	c->o = (struct bench_opts){ .build = "build", .runtime = "binary", .concurrency = ROOM };
	int opt;
	int64_t v;
	char *end;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_i64(optarg, 1, 1440, &v) < 0) {
				fprintf(stderr, "ditto-bench: --minutes must be 1..1440\n");
				return 2;
			}
			c->minutes = (int)v;
			break;
		case 'r':
			c->rate = strtod(optarg, &end);
			if (end == optarg || *end || !(c->rate > 0 && c->rate <= 10000)) {
				fprintf(stderr, "ditto-bench: --rate must be a number of calls per "
						"second, over 0 and at most 10000\n");
				return 2;
			}
			break;
		case 's':
			if (parse_i64(optarg, 1, 3600, &v) < 0) {
				fprintf(stderr, "ditto-bench: --sample-s must be 1..3600\n");
				return 2;
			}
			c->sample_s = (int)v;
			break;
		case 'b': c->o.build = optarg; break;
		case 'd': c->o.data = optarg; break;
		case 'a': c->o.accel = optarg; break;
		case 'c': c->o.cores = optarg; break;
		case 'j': c->json = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-bench: soak: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (c->minutes == 0) {
		fprintf(stderr, "ditto-bench: soak: --minutes is required\n");
		return 2;
	}
	return 0;
}

/* Runs the platform, the capacity measurement, the load and the report;
 * returns the exit status. */
static int soak_run(struct soak *s)
{
	const struct soak_cli *cli = s->cli;
	struct api_client reader = { 0 };
	int rc = 1;
	if (platform_start(&s->p, &cli->o) < 0 || platform_tenant_setup(&s->p) < 0 ||
	    platform_first_call(&s->p) < 0 || api_client_init(&reader, s->p.url) < 0 ||
	    api_client_set_bearer(&reader, s->p.tenant_key) < 0)
		goto out;
	if (!cli->rate) {
		if (!cli->json)
			fprintf(stderr, "ditto-bench: measuring capacity for %d s\n", CAPACITY_S);
		if (capacity_measure(s) < 0)
			goto out;
	}
	s->rate = cli->rate ? cli->rate : s->capacity / 2;
	if (!cli->json)
		fprintf(stderr, "ditto-bench: %.1f calls/s for %d min\n", s->rate, cli->minutes);
	if (soak_load(s, &reader) < 0)
		goto out;
	struct soak_summary sum[SOAK_PROCS];
	soak_summarize(s->samples, s->n_samples, warmup_s(cli), sum);
	if (cli->json) {
		json_t *out = report_json(s, sum);
		char *text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(out);
	} else {
		report_text(s, sum);
	}
	rc = s->errors.total > 0;
out:
	api_client_free(&reader);
	platform_stop(&s->p);
	return rc;
}

int bench_soak(int argc, char **argv)
{
	struct soak_cli cli;
	int r = parse_args(&cli, argc, argv);
	if (r)
		return r == 1 ? 0 : r;
	char tmp[] = "/tmp/ditto-bench.XXXXXX";
	if (!cli.o.data) {
		if (!mkdtemp(tmp)) {
			fprintf(stderr, "ditto-bench: cannot create a data folder: %s\n",
				strerror(errno));
			return 1;
		}
		cli.o.data = tmp;
	}
	struct soak s = { .cli = &cli };
	pthread_mutex_init(&s.lock, NULL);
	atomic_init(&s.next, 0);
	int rc = soak_run(&s);
	pthread_mutex_destroy(&s.lock);
	free(s.open);
	free(s.samples);
	return rc;
}
