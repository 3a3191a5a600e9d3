/* ditto-bench invoke's options: what they may be. */
#include <errno.h>
#include <string.h>

#include "bench.h"

/* The most client threads, each with a call outstanding: within the
 * controller's connections (--max-connections, default 1024) and a
 * function's max_concurrency (1000). */
#define CONCURRENCY_MAX 256
#define RATE_MAX 100000

bool bench_store_is_postgres(const struct bench_opts *o)
{
	return o->store && strcmp(o->store, "postgres") == 0;
}

/* --store and --controllers: several controllers share one store only on
 * PostgreSQL (a SQLite file serves one controller). */
static int store_opts_check(const struct bench_opts *o, char *err, size_t size)
{
	if (o->store && strcmp(o->store, "sqlite") != 0 && strcmp(o->store, "postgres") != 0)
		return bench_error(err, size, -EINVAL, "--store must be sqlite or postgres");
	if (o->controllers < 1 || o->controllers > BENCH_CONTROLLERS_MAX)
		return bench_error(err, size, -EINVAL, "--controllers must be 1..%d",
				   BENCH_CONTROLLERS_MAX);
	if (o->controllers > 1 && !bench_store_is_postgres(o))
		return bench_error(err, size, -EINVAL,
				   "--controllers %d needs --store postgres: a SQLite store "
				   "serves one controller",
				   o->controllers);
	if (o->url && (o->store || o->controllers > 1))
		return bench_error(err, size, -EINVAL,
				   "--store and --controllers start the platform: not with --url");
	return 0;
}

int bench_invoke_opts_check(const struct bench_opts *o, char *err, size_t size)
{
	if (o->concurrency < 1 || o->concurrency > CONCURRENCY_MAX)
		return bench_error(err, size, -EINVAL, "--concurrency must be 1..%d",
				   CONCURRENCY_MAX);
	if (o->rate < 0 || o->rate > RATE_MAX)
		return bench_error(err, size, -EINVAL, "--rate must be 1..%d calls per second",
				   RATE_MAX);
	if (o->duration_s < 1 || o->duration_s > 3600 || o->warmup_s < 0 || o->warmup_s > 3600 ||
	    o->records < 0 || o->records > 10000000)
		return bench_error(err, size, -EINVAL,
				   "--duration must be 1..3600, --warmup 0..3600, --records "
				   "0..10000000");
	if (strcmp(o->runtime, "binary") != 0 && strcmp(o->runtime, "python3") != 0 &&
	    strcmp(o->runtime, "nodejs") != 0)
		return bench_error(err, size, -EINVAL,
				   "--runtime must be python3, nodejs or binary");
	if (o->cold < 0 || o->cold > 1000)
		return bench_error(err, size, -EINVAL, "--cold must be 0..1000");
	if (!o->url != !o->key)
		return bench_error(err, size, -EINVAL, "--url and --key go together");
	return store_opts_check(o, err, size);
}
