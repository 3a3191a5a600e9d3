/* ditto-bench invoke: synchronous invocations of the echo function (in the
 * runtime --runtime names) through the whole platform (client ->
 * ditto-controller -> ditto-agent -> guest VM -> function): latency,
 * throughput, errors, from each reply's X-Ditto-Timing header where the
 * time went, and the cold start: the first call of fresh versions. The platform it measures is
 * set up and torn down by platform.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include "invoke_int.h"
#include "open_loop.h"
#include "proc_cpu.h"
#include "util.h"

#define CALL_TIMEOUT_MS 60000L
/* Async invocations run at the VM's pace: generous, as tests' deadlines are. */
#define DRAIN_TIMEOUT_MS (30L * 60 * 1000)

static long long now_us(void)
{
	return (long long)time_now_us();
}

void errors_add(struct errors *e, int kind, long count)
{
	e->total += count;
	int i;
	for (i = 0; i < e->n && e->kind[i] != kind; i++)
		;
	if (i == e->n) {
		/* More distinct kinds than slots: fold them into the last one. */
		if (e->n == ERR_KINDS)
			i = ERR_KINDS - 1;
		else
			e->kind[e->n++] = kind;
	}
	e->count[i] += count;
}

/* What the client threads of one phase share. */
struct phase {
	long long start_us;
	atomic_llong end_us; /* brought forward to stop the clients early */
	bool record;         /* false while warming up */
	/* --rate (0: closed loop): the schedule's next call no client took,
	 * the calls skipped so far, under lock. */
	int rate;
	pthread_mutex_t lock;
	long long next, dropped;
};

/* One client thread with its own kept-alive connection. */
struct worker {
	int index;
	struct phase *phase;
	const struct bench_e2e *e2e; /* --encrypted, else NULL */
	CURL *curl;
	/* The invoke URL on each controller, taken in turn call by call. */
	char targets[BENCH_CONTROLLERS_MAX][256];
	int n_targets;
	struct curl_slist *hdrs;
	/* --encrypted: hdrs plus an invocation id header, rewritten in place. */
	struct curl_slist *call_hdrs;
	char *call_id;
	char body[96];
	char reply[512];
	size_t reply_len;
	bool reply_overflow, has_timing, cold;
	struct sample cur;
	long seq;
	/* Results of the current phase. */
	struct samples samples;
	struct errors errors;
	long cold_starts;
	long long last_us;
	int err;
	pthread_t thread;
};

static size_t on_reply(char *p, size_t size, size_t n, void *data)
{
	struct worker *w = data;
	size_t len = size * n;
	if (w->reply_len + len > sizeof(w->reply))
		w->reply_overflow = true;
	else {
		memcpy(w->reply + w->reply_len, p, len);
		w->reply_len += len;
	}
	return len;
}

/* Reads "key=N" from an X-Ditto-Timing value; false when absent or negative. */
static bool timing_field(const char *line, const char *key, long long *ret)
{
	const char *p = strstr(line, key);
	if (!p)
		return false;
	p += strlen(key);
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (end == p || errno || v < 0)
		return false;
	*ret = v;
	return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
	struct worker *w = data;
	size_t len = size * n, vlen;
	const char *v;
	if ((v = bench_header_value(p, len, "X-Ditto-Timing:", &vlen))) {
		char line[256];
		size_t m = vlen < sizeof(line) - 1 ? vlen : sizeof(line) - 1;
		memcpy(line, v, m);
		line[m] = '\0';
		struct sample *s = &w->cur;
		w->has_timing = timing_field(line, "total_us=", &s->total) &&
				timing_field(line, "controller_us=", &s->controller) &&
				timing_field(line, "agent_us=", &s->agent) &&
				timing_field(line, "guest_us=", &s->guest) &&
				timing_field(line, "function_us=", &s->function);
	} else if ((v = bench_header_value(p, len, "X-Ditto-Cold-Start:", &vlen))) {
		w->cold = vlen == 4 && strncmp(v, "true", 4) == 0;
	}
	return len;
}

static int samples_push(struct samples *s, const struct sample *v)
{
	if (array_reserve(&s->v, &s->cap, s->n + 1, sizeof(*s->v), 4096) < 0)
		return -ENOMEM;
	s->v[s->n++] = *v;
	return 0;
}

static int samples_append(struct samples *s, const struct samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (samples_push(s, &from->v[i]) < 0)
			return -ENOMEM;
	return 0;
}

static int worker_init(struct worker *w, int index, struct platform *p)
{
	const char *key = p->tenant_key;
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->curl = curl_easy_init();
	if (!w->curl)
		return -ENOMEM;
	char auth[192];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	w->hdrs = curl_slist_append(NULL, auth);
	w->hdrs = curl_slist_append(w->hdrs, "Content-Type: application/json");
	w->hdrs = curl_slist_append(w->hdrs, "Expect:");
	if (!w->hdrs)
		return -ENOMEM;
	/* A controller not ours is the one at p->url. */
	w->n_targets = p->controller.pid > 0 ? p->n_controllers : 1;
	for (int k = 0; k < w->n_targets; k++)
		snprintf(w->targets[k], sizeof(w->targets[k]), "%s/v1/functions/echo/invoke",
			 p->controller.pid > 0 ? platform_controller(p, k)->url : p->url);
	CURL *h = w->curl;
	curl_easy_setopt(h, CURLOPT_URL, w->targets[0]);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	/* libcurl does not copy POSTFIELDS: each call rewrites w->body in place. */
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, w->hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	return 0;
}

static void worker_free(struct worker *w)
{
	if (w->curl)
		curl_easy_cleanup(w->curl);
	curl_slist_free_all(w->hdrs);
	curl_slist_free_all(w->call_hdrs);
	free(w->samples.v);
	memset(w, 0, sizeof(*w));
}

/* Adds the invocation id header to the worker's headers, once; each call
 * then writes its id into it. Returns false on ENOMEM. */
static bool id_header_add(struct worker *w)
{
	static const char name[] = "X-Ditto-Invocation-Id: ";
	char hdr[sizeof(name) + 32];
	snprintf(hdr, sizeof(hdr), "%s%032d", name, 0);
	/* A sealed request is opaque bytes, not JSON. */
	for (struct curl_slist *h = w->hdrs; h; h = h->next)
		if (strncasecmp(h->data, "Content-Type:", 13) != 0)
			w->call_hdrs = curl_slist_append(w->call_hdrs, h->data);
	w->call_hdrs = curl_slist_append(w->call_hdrs, "Content-Type: application/octet-stream");
	struct curl_slist *all = curl_slist_append(w->call_hdrs, hdr);
	if (!all)
		return false;
	w->call_hdrs = all;
	struct curl_slist *last = all;
	while (last->next)
		last = last->next;
	w->call_id = last->data + strlen(name);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->call_hdrs);
	return true;
}

/* --encrypted: seals the call's body under a fresh invocation id, which goes
 * in its header. Returns the sealed body (free it after the call) or NULL. */
static uint8_t *seal_call(struct worker *w, size_t len, char id[33], size_t *ret_len)
{
	uint8_t *sealed = NULL;
	if (bench_e2e_seal(w->e2e, w->body, len, id, &sealed, ret_len) < 0)
		return NULL;
	if (!w->call_hdrs && !id_header_add(w)) {
		free(sealed);
		return NULL;
	}
	memcpy(w->call_id, id, 32);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, sealed);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)*ret_len);
	return sealed;
}

/* Whether the reply is this call's echo: the body itself, or under
 * --encrypted the body sealed back to this call's client key. */
static bool reply_matches(struct worker *w, const char *id, size_t len)
{
	if (w->reply_overflow)
		return false;
	if (w->e2e)
		return bench_e2e_check(w->e2e, id, w->reply, w->reply_len, w->body, len);
	return w->reply_len == len && memcmp(w->reply, w->body, len) == 0;
}

/* Calls echo once with a unique body (so a reply that echoes it proves it
 * answers this very call): w->cur holds its sample, w->cold whether it was
 * a cold start. Returns 0 for a good call, 1 for a failed one with its
 * error kind in *ret_kind, or -errno when it could not be made at all. */
static int worker_call(struct worker *w, int *ret_kind)
{
	w->cur.late = 0;
	/* Round robin over the controllers, each client starting on its own. */
	if (w->n_targets > 1)
		curl_easy_setopt(w->curl, CURLOPT_URL,
				 w->targets[(w->index + w->seq) % w->n_targets]);
	int len = snprintf(w->body, sizeof(w->body), "{\"client\":%d,\"seq\":%ld}", w->index,
			   w->seq++);
	char id[33] = "";
	size_t sealed_len = 0;
	long long t0 = now_us();
	uint8_t *sealed = w->e2e ? seal_call(w, (size_t)len, id, &sealed_len) : NULL;
	if (w->e2e && !sealed)
		return -EIO;
	if (!w->e2e)
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)len);
	w->reply_len = 0;
	w->reply_overflow = w->has_timing = w->cold = false;
	long long t_sent = now_us();
	CURLcode rc = curl_easy_perform(w->curl);
	long long t_back = now_us();
	free(sealed);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	bool matches = rc == CURLE_OK && status == 200 && reply_matches(w, id, (size_t)len);
	w->last_us = now_us();
	w->cur.e2e = w->e2e ? (t_sent - t0) + (w->last_us - t_back) : 0;
	w->cur.rtt = w->last_us - t0;
	if (rc != CURLE_OK)
		*ret_kind = ERR_NO_ANSWER;
	else if (status != 200)
		*ret_kind = (int)status;
	else if (!matches)
		*ret_kind = ERR_WRONG_BODY;
	else if (!w->has_timing)
		*ret_kind = ERR_NO_TIMING;
	else
		return 0;
	return 1;
}

/* Under --rate: waits for the next call this client takes and returns
 * its due time, or -1 when the phase has no call left for it. */
static long long open_loop_wait(struct phase *ph)
{
	long long dropped, end = atomic_load(&ph->end_us) - ph->start_us;
	pthread_mutex_lock(&ph->lock);
	long long i = open_loop_take(ph->next, ph->rate, now_us() - ph->start_us, &dropped);
	long long due = open_loop_due_us(i, ph->rate);
	long long n_end = open_loop_calls(end, ph->rate);
	if (due < end) {
		ph->next = i + 1;
		ph->dropped += dropped;
	} else if (ph->next < n_end) {
		/* Only the calls due in the phase count as dropped. */
		ph->dropped += n_end - ph->next;
		ph->next = n_end;
	}
	pthread_mutex_unlock(&ph->lock);
	if (due >= end)
		return -1;
	/* now_us is CLOCK_MONOTONIC: sleep until the due time on it. */
	long long at = ph->start_us + due;
	struct timespec ts = { .tv_sec = at / 1000000, .tv_nsec = (at % 1000000) * 1000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return at;
}

/* Calls echo back to back until the phase ends, or under --rate each call
 * at its due time. */
static void *worker_main(void *data)
{
	struct worker *w = data;
	struct phase *ph = w->phase;
	while (now_us() < atomic_load(&ph->end_us)) {
		long long due = ph->rate ? open_loop_wait(ph) : 0;
		if (due < 0)
			break;
		int kind, r = worker_call(w, &kind);
		if (r < 0) {
			w->err = r;
			break;
		}
		if (due > 0 && (w->cur.late = w->last_us - w->cur.rtt - due) < 0)
			w->cur.late = 0;
		if (!ph->record)
			continue;
		if (r > 0) {
			errors_add(&w->errors, kind, 1);
			continue;
		}
		w->cold_starts += w->cold;
		if (samples_push(&w->samples, &w->cur) < 0) {
			w->err = -ENOMEM;
			break;
		}
	}
	return NULL;
}

/* Runs every worker for seconds; with ret, collects what they measured. */
static int run_phase(struct worker *ws, int n, int seconds, int rate, struct run *ret)
{
	struct phase ph = { .start_us = now_us(), .record = ret != NULL, .rate = rate };
	long long length_us = (long long)seconds * 1000000LL;
	atomic_init(&ph.end_us, ph.start_us + length_us);
	pthread_mutex_init(&ph.lock, NULL);
	int started = 0, err = 0;
	for (; started < n; started++) {
		struct worker *w = &ws[started];
		w->phase = &ph;
		w->samples.n = 0;
		memset(&w->errors, 0, sizeof(w->errors));
		w->cold_starts = 0;
		w->err = 0;
		if ((err = -pthread_create(&w->thread, NULL, worker_main, w)) < 0) {
			/* Stop the ones already running at once. */
			atomic_store(&ph.end_us, 0);
			break;
		}
	}
	long long last = ph.start_us;
	for (int i = 0; i < started; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].err < 0)
			err = ws[i].err;
		if (ws[i].last_us > last)
			last = ws[i].last_us;
	}
	pthread_mutex_destroy(&ph.lock);
	if (err < 0 || !ret)
		return err;
	struct virtio_rtt virtio = ret->virtio; /* read before the run */
	memset(ret, 0, sizeof(*ret));
	ret->virtio = virtio;
	if (rate) {
		/* Calls due that no client took before the phase ended were
		 * due while every client was busy too. */
		ret->offered = open_loop_calls(length_us, rate);
		ret->dropped = ph.dropped + (ph.next < ret->offered ? ret->offered - ph.next : 0);
	}
	for (int i = 0; i < n; i++) {
		if (samples_append(&ret->samples, &ws[i].samples) < 0)
			return -ENOMEM;
		for (int k = 0; k < ws[i].errors.n; k++)
			errors_add(&ret->errors, ws[i].errors.kind[k], ws[i].errors.count[k]);
		ret->cold_starts += ws[i].cold_starts;
	}
	ret->elapsed_s = (double)(last - ph.start_us) / 1e6;
	ret->throughput = ret->elapsed_s > 0 ? (double)ret->samples.n / ret->elapsed_s : 0;
	return 0;
}

/* The CPU times of the processes on the path, the controllers' summed
 * (each also in ret_ctl). */
static void cpu_sample(struct platform *p, long long ret[CPU_COUNT],
		       long long ret_ctl[BENCH_CONTROLLERS_MAX])
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	ret[CPU_CLIENT] = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
			  ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	ret[CPU_CONTROLLER] = 0;
	for (int k = 0; k < BENCH_CONTROLLERS_MAX; k++) {
		ret_ctl[k] = k < p->n_controllers ? proc_cpu_us(platform_controller(p, k)->pid)
						  : -1;
		if (k < p->n_controllers)
			ret[CPU_CONTROLLER] = ret[CPU_CONTROLLER] < 0 || ret_ctl[k] < 0
						      ? -1
						      : ret[CPU_CONTROLLER] + ret_ctl[k];
	}
	ret[CPU_AGENT] = proc_cpu_us(p->agent.pid);
	ret[CPU_QEMU] = proc_cpu_us(p->qemu_pid);
}

/* True once the tenant has no invocation in this status. */
static int none_in(struct platform *p, const char *status, bool *ret)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/invocations?status=%s&limit=1", status);
	json_t *reply = NULL;
	int st = api_client_call(&p->tenant, "GET", path, NULL, 0, 10000, &reply);
	*ret = json_array_size(json_object_get(reply, "invocations")) == 0;
	json_decref(reply);
	return st == 200 ? 0 : -EIO;
}

/* Stores o->records invocation records by asynchronous calls, waits until
 * all have run, counts what the controller kept and samples its memory. */
static int store_records(struct platform *p, struct records *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->n = p->o->records;
	long long t0 = now_us();
	for (int i = 0; i < ret->n; i++) {
		char body[64];
		int len = snprintf(body, sizeof(body), "{\"record\":%d}", i);
		int st = api_client_call(&p->tenant, "POST", "/v1/functions/echo/invoke?async=true",
					 body, (size_t)len, CALL_TIMEOUT_MS, NULL);
		if (st != 202) {
			fprintf(stderr, "ditto-bench: async call %d failed (%d)\n", i, st);
			return -EIO;
		}
	}
	long long t1 = now_us();
	long long deadline = t1 + DRAIN_TIMEOUT_MS * 1000LL;
	for (;;) {
		bool no_queued, no_running;
		if (none_in(p, "queued", &no_queued) < 0 ||
		    none_in(p, "running", &no_running) < 0) {
			fprintf(stderr, "ditto-bench: cannot list invocations\n");
			return -EIO;
		}
		if (no_queued && no_running)
			break;
		if (now_us() > deadline) {
			fprintf(stderr,
				"ditto-bench: async invocations still pending after %ld s\n",
				DRAIN_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		bench_sleep_ms(100);
	}
	long long t2 = now_us();
	ret->rss_kib = proc_rss_kib(p->controller.pid);
	ret->submit_s = (double)(t1 - t0) / 1e6;
	ret->drain_s = (double)(t2 - t1) / 1e6;

	/* Page through what the controller kept. */
	char cursor[128] = "";
	do {
		char path[256];
		char *esc = curl_easy_escape(p->tenant.curl, cursor, 0);
		snprintf(path, sizeof(path), "/v1/invocations?limit=1000%s%s",
			 cursor[0] ? "&cursor=" : "", esc ? esc : "");
		curl_free(esc);
		json_t *reply = NULL, *v;
		size_t i;
		int st = api_client_call(&p->tenant, "GET", path, NULL, 0, 60000, &reply);
		if (st != 200) {
			json_decref(reply);
			fprintf(stderr, "ditto-bench: cannot list invocations (%d)\n", st);
			return -EIO;
		}
		json_array_foreach(json_object_get(reply, "invocations"), i, v)
		{
			const char *status = json_string_value(json_object_get(v, "status"));
			ret->stored++;
			ret->ok += status && strcmp(status, "ok") == 0;
		}
		const char *next = json_string_value(json_object_get(reply, "next_cursor"));
		snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
		json_decref(reply);
	} while (cursor[0]);
	return 0;
}

/* ---- cold start ---- */

/* Version i of echo's bytes: the artifact with a line appended that the
 * runtime ignores (a comment; data past an ELF binary's segments). Returns
 * 0 with a malloc'd copy, or -ENOMEM. */
static int fresh_version(const char *runtime, const void *art, size_t len, int i, void **ret,
			 size_t *ret_len)
{
	char tail[64];
	const char *comment = strcmp(runtime, "python3") == 0  ? "# "
			      : strcmp(runtime, "nodejs") == 0 ? "// "
							       : "";
	int n = snprintf(tail, sizeof(tail), "\n%scold start %d\n", comment, i);
	uint8_t *b = malloc(len + (size_t)n);
	if (!b)
		return -ENOMEM;
	memcpy(b, art, len);
	memcpy(b + len, tail, (size_t)n);
	*ret = b;
	*ret_len = len + (size_t)n;
	return 0;
}

/* Deploys o->cold fresh versions of echo one after another and calls each
 * once through w. Returns 0, or -errno after printing one line. */
static int measure_cold(struct platform *p, struct worker *w, struct cold *ret)
{
	const struct bench_opts *o = p->o;
	char query[128];
	void *art;
	size_t len;
	memset(ret, 0, sizeof(*ret));
	ret->versions = o->encrypted ? 0 : o->cold;
	platform_echo_query(o, query, sizeof(query));
	int r = ret->versions > 0 ? platform_echo_read(o, &art, &len) : 0;
	if (r < 0 || ret->versions == 0)
		return r;
	for (int i = 0; i < ret->versions && r >= 0; i++) {
		void *v;
		size_t vlen;
		int kind;
		if ((r = fresh_version(o->runtime, art, len, i, &v, &vlen)) < 0)
			break;
		r = platform_deploy(p, "echo", v, vlen, query);
		free(v);
		if (r < 0 || (r = worker_call(w, &kind)) < 0)
			break;
		if (r > 0)
			errors_add(&ret->errors, kind, 1);
		else if (!w->cold)
			ret->not_cold++;
		else
			r = samples_push(&ret->samples, &w->cur);
	}
	free(art);
	if (r < 0 && r != -EIO)
		fprintf(stderr, "ditto-bench: cold start: %s\n", strerror(-r));
	return r < 0 ? r : 0;
}

/* ---- the bare virtio-serial round trip ---- */

/* Pings read from the agent before and after each timed run. */
#define VIRTIO_PINGS 100

/* Appends the agent's timings of VIRTIO_PINGS bare round trips over the
 * tenant VM's channel (POST /v1/vms/{vm}/ping) to ret. Returns 0, or
 * -ENOTCONN when the agent is not ours, or -EIO. */
static int virtio_read(struct platform *p, struct virtio_rtt *ret)
{
	if (!p->agent_api.curl)
		return -ENOTCONN;
	char path[128];
	/* The VM is named after the tenant platform_tenant_setup creates. */
	snprintf(path, sizeof(path), "/v1/vms/bench/ping?count=%d", VIRTIO_PINGS);
	json_t *reply = NULL, *v;
	size_t i;
	int st = api_client_call(&p->agent_api, "POST", path, NULL, 0, 60000, &reply);
	json_t *rtt = json_object_get(reply, "rtt_us");
	int r = st == 200 && json_array_size(rtt) == VIRTIO_PINGS ? 0 : -EIO;
	json_array_foreach(r == 0 ? rtt : NULL, i, v)
	{
		if (array_reserve(&ret->v, &ret->cap, ret->n + 1, sizeof(*ret->v), 256) < 0) {
			r = -ENOMEM;
			break;
		}
		ret->v[ret->n++] = (double)json_integer_value(v);
	}
	json_decref(reply);
	if (r == -EIO)
		fprintf(stderr, "ditto-bench: the agent's ping route failed (%d)\n", st);
	return r;
}

/* ---- the benchmark ---- */

static double median_of(double *v, size_t n)
{
	struct stats s;
	stats_compute(v, n, &s);
	return s.p50;
}

/* One timed run: the bare round trips and CPU times read around it. Adds
 * what it measured to all. Returns 0 or -errno. */
static int timed_run(struct platform *p, struct worker *ws, int i, struct run *run, struct run *all)
{
	const struct bench_opts *o = p->o;
	if (!o->json)
		fprintf(stderr, "ditto-bench: run %d of %d (%d s)\n", i + 1, o->reps,
			o->duration_s);
	long long cpu0[CPU_COUNT], cpu1[CPU_COUNT];
	long long ctl0[BENCH_CONTROLLERS_MAX], ctl1[BENCH_CONTROLLERS_MAX];
	int r = virtio_read(p, &run->virtio);
	if (r < 0 && r != -ENOTCONN)
		return r;
	cpu_sample(p, cpu0, ctl0);
	if ((r = run_phase(ws, o->concurrency, o->duration_s, o->rate, run)) < 0)
		return r;
	cpu_sample(p, cpu1, ctl1);
	r = virtio_read(p, &run->virtio);
	if ((r < 0 && r != -ENOTCONN) || samples_append(&all->samples, &run->samples) < 0)
		return r < 0 ? r : -ENOMEM;
	for (size_t k = 0; k < run->virtio.n; k++)
		if (array_reserve(&all->virtio.v, &all->virtio.cap, all->virtio.n + 1,
				  sizeof(double), 256) == 0)
			all->virtio.v[all->virtio.n++] = run->virtio.v[k];
	for (int k = 0; k < CPU_COUNT; k++) {
		bool known = cpu0[k] >= 0 && cpu1[k] >= 0 && all->cpu_us[k] >= 0;
		run->cpu_us[k] = cpu0[k] >= 0 && cpu1[k] >= 0 ? cpu1[k] - cpu0[k] : -1;
		all->cpu_us[k] = known ? all->cpu_us[k] + run->cpu_us[k] : -1;
	}
	for (int k = 0; k < BENCH_CONTROLLERS_MAX; k++) {
		bool known = ctl0[k] >= 0 && ctl1[k] >= 0;
		run->ctl_cpu_us[k] = known ? ctl1[k] - ctl0[k] : -1;
		all->ctl_cpu_us[k] = known && all->ctl_cpu_us[k] >= 0
					     ? all->ctl_cpu_us[k] + run->ctl_cpu_us[k]
					     : -1;
	}
	for (int k = 0; k < run->errors.n; k++)
		errors_add(&all->errors, run->errors.kind[k], run->errors.count[k]);
	all->cold_starts += run->cold_starts;
	all->elapsed_s += run->elapsed_s;
	all->offered += run->offered;
	all->dropped += run->dropped;
	return 0;
}

int bench_invoke(const struct bench_opts *o)
{
	struct platform p;
	int n = o->concurrency, rc = -1;
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	struct run *runs = calloc((size_t)o->reps, sizeof(*runs));
	struct run all = { 0 };
	struct records rec = { 0 };
	struct bench_e2e e2e = { 0 };
	struct cold cold = { 0 };
	if (!ws || !runs) {
		free(ws);
		free(runs);
		return -ENOMEM;
	}
	if (platform_start(&p, o) < 0 || platform_tenant_setup(&p) < 0 ||
	    platform_first_call(&p) < 0)
		goto out;
	if (o->encrypted && bench_e2e_setup(&p, &e2e) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		if (worker_init(&ws[i], i, &p) < 0) {
			fprintf(stderr, "ditto-bench: out of memory\n");
			goto out;
		}
		ws[i].e2e = o->encrypted ? &e2e : NULL;
	}
	/* Records first, so that the count the controller keeps is N and the
	 * boot call, not also the warm-up's calls. */
	if (o->records > 0) {
		if (!o->json)
			fprintf(stderr, "ditto-bench: storing %d invocation records\n", o->records);
		if (store_records(&p, &rec) < 0)
			goto out;
	}
	if (!o->json)
		fprintf(stderr, "ditto-bench: platform at %s is up, warming up for %d s\n", p.url,
			o->warmup_s);
	if (o->warmup_s > 0 && run_phase(ws, n, o->warmup_s, o->rate, NULL) < 0)
		goto out;
	double *tputs = calloc((size_t)o->reps, sizeof(double));
	if (!tputs)
		goto out;
	for (int i = 0; i < o->reps; i++) {
		if (timed_run(&p, ws, i, &runs[i], &all) < 0) {
			free(tputs);
			goto out;
		}
		tputs[i] = runs[i].throughput;
	}
	double tput = median_of(tputs, (size_t)o->reps);
	free(tputs);
	all.throughput = tput;
	if (!o->json && o->cold > 0 && !o->encrypted)
		fprintf(stderr, "ditto-bench: cold start: %d fresh versions, one call each\n",
			o->cold);
	if (measure_cold(&p, &ws[0], &cold) < 0)
		goto out;
	long rss_end = proc_rss_kib(p.controller.pid);
	struct invoke_result res = { .p = &p,
				     .o = o,
				     .runs = runs,
				     .all = &all,
				     .tput = tput,
				     .rss_end = rss_end,
				     .rec = &rec,
				     .e2e = &e2e,
				     .cold = &cold };
	if (o->json)
		invoke_print_json(&res);
	else
		invoke_print_text(&res);
	rc = all.errors.total == 0 && cold.errors.total == 0 ? 0 : -EIO;
out:
	for (int i = 0; i < n; i++)
		worker_free(&ws[i]);
	for (int i = 0; i < o->reps; i++) {
		free(runs[i].samples.v);
		free(runs[i].virtio.v);
	}
	free(all.samples.v);
	free(all.virtio.v);
	free(cold.samples.v);
	free(ws);
	free(runs);
	platform_stop(&p);
	return rc;
}
