/* ditto-bench invoke's options: what they may be. */
#include <errno.h>
#include <string.h>

#include "bench.h"

/* The most client threads, each with a call outstanding: within the
 * controller's connections (--max-connections, default 1024) and a
 * function's max_concurrency (1000). */
#define CONCURRENCY_MAX 256
#define RATE_MAX 100000

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
	return 0;
}
