#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bench.h"
#include "util.h"

int bench_agent_start(struct daemon_proc *p, const struct bench_opts *o, const char *data_dir,
		      const char *const *more)
{
	const char *extra[24];
	int n = 0;
	for (int i = 0; more && more[i] && n < 20; i++)
		extra[n++] = more[i];
	if (o->accel) {
		extra[n++] = "--accel";
		extra[n++] = o->accel;
	}
	if (o->cores) {
		extra[n++] = "--cores";
		extra[n++] = o->cores;
	}
	extra[n] = NULL;
	struct daemon_args a = { .build_dir = o->build,
				 .data_dir = data_dir,
				 .extra = extra,
				 .timeout_ms = BENCH_START_MS };
	int r = daemon_proc_start_agent(p, &a);
	if (r < 0)
		fprintf(stderr, "ditto-bench: cannot start %s/ditto-agent (%s); see %s/agent.log\n",
			o->build, strerror(-r), data_dir);
	return r;
}

int bench_env_start(struct bench_env *e, const struct bench_opts *o)
{
	memset(e, 0, sizeof(*e));
	int r = bench_agent_start(&e->proc, o, o->data, NULL);
	if (r < 0)
		return r;
	api_client_init(&e->client, e->proc.url);
	json_t *st = NULL;
	r = api_client_call(&e->client, "GET", "/v1/status", NULL, 0, 10000, &st);
	if (r != 200) {
		fprintf(stderr, "ditto-bench: agent status failed (%d)\n", r);
		json_decref(st);
		bench_env_stop(e);
		return -EIO;
	}
	snprintf(e->accel, sizeof(e->accel), "%s", json_string_value(json_object_get(st, "accel")));
	snprintf(e->qemu, sizeof(e->qemu), "%s", json_string_value(json_object_get(st, "qemu")));
	json_decref(st);
	return 0;
}

void bench_env_stop(struct bench_env *e)
{
	api_client_free(&e->client);
	if (e->proc.pid > 0)
		daemon_proc_stop(&e->proc, SIGTERM, 20000);
}

int bench_read_function(const struct bench_opts *o, const char *name, void **ret, size_t *ret_len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", o->build, name);
	int r = file_read_all(path, ret, ret_len);
	if (r < 0)
		fprintf(stderr, "ditto-bench: cannot read %s: %s\n", path, strerror(-r));
	return r;
}

int bench_upload_function(struct bench_env *e, const struct bench_opts *o, const char *name,
			  char digest[SHA256_HEX_SIZE])
{
	void *buf;
	size_t len;
	int r = bench_read_function(o, name, &buf, &len);
	if (r < 0)
		return r;
	r = api_client_put_artifact(&e->client, buf, len, digest);
	free(buf);
	if (r != 201) {
		fprintf(stderr, "ditto-bench: upload of %s failed (%d)\n", name, r);
		return -EIO;
	}
	return 0;
}

int bench_error(char *err, size_t size, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return e;
}

void bench_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile over a sorted sample. */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

void stats_compute(double *v, size_t n, struct stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->n = n;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	ret->min = v[0];
	ret->max = v[n - 1];
	ret->p50 = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	ret->p90 = pct(v, n, 90);
	ret->p99 = pct(v, n, 99);
	ret->p999 = pct(v, n, 99.9);
}

const char *bench_header_value(const char *line, size_t len, const char *name, size_t *ret_len)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0)
		return NULL;
	const char *v = line + n, *end = line + len;
	while (v < end && *v == ' ')
		v++;
	const char *e = v;
	while (e < end && *e != '\r' && *e != '\n')
		e++;
	*ret_len = (size_t)(e - v);
	return v;
}
