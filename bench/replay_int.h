/* ditto-bench replay's internals, shared by its command (replay.c) and its
 * open-loop sender (replay_send.c). */
#ifndef DITTO_BENCH_REPLAY_INT_H
#define DITTO_BENCH_REPLAY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "bench.h"
#include "results.h"
#include "trace_cli.h"
#include "util.h"

struct replay_opts {
	struct trace_cli tc;
	struct bench_opts bo; /* build, data, accel, cores, url, key */
	const char *mechanism;
	const char *mode;     /* how the functions run: persistent or process */
	long call_timeout_ms; /* 0: the longest function timeout + 60 s */
	int max_inflight;
	double max_memory_mb;
};

/* What every policy's run shares. */
struct replay {
	const struct replay_opts *o;
	struct workload w;
	int worker_cores;
	char accel[16];
	long *timeout_ms, *memory_mb; /* per workload function */
	long call_timeout_ms;
	void *busy;
	size_t busy_len;
	size_t memory_cut; /* calls whose memory was cut to --max-memory-mb */
};

#define ID_SIZE 48

/* One call in flight. */
struct slot {
	CURL *easy;
	size_t call;
	char body[64];
	char reply[256];
	size_t reply_len;
	bool cold;
	struct slot *next_free;
	struct sender *s;
};

struct sender {
	CURLM *multi;
	struct curl_slist *hdrs;
	struct slot *slots, *free;
	int inflight;
	const struct replay *R;
	const char *url;
	struct run *run;
	char (*ids)[ID_SIZE]; /* each call's invocation id, for its VM */
	long long start_us;
	long long late_us; /* the latest send after its time */
	char first_failure[512];
};

/* Sets up a sender of R's calls to the controller at url with key, whose
 * outcomes go into run. Returns 0 or -ENOMEM (sender_free it either way). */
int sender_init(struct sender *s, const struct replay *R, const char *url, const char *key,
		struct run *run);
void sender_free(struct sender *s);
/* Sends every call at its time without waiting for answers, and collects
 * the answers. Returns 0, or -EAGAIN when more than --max-inflight calls
 * were in flight (the rest are left unsent). */
int sender_run(struct sender *s);

static inline long long now_us(void)
{
	return (long long)time_now_us();
}

#endif
