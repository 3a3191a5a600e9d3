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
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"
#include "invoke_e2e.h"
#include "platform.h"
#include "util.h"

#define CALL_TIMEOUT_MS 60000L
/* Async invocations run at the VM's pace: generous, as tests' deadlines are. */
#define DRAIN_TIMEOUT_MS (30L * 60 * 1000)

static long long now_us(void)
{
	return (long long)time_now_us();
}

/* One successful call: the client's round trip and X-Ditto-Timing, in us;
 * e2e is the client's own sealing and opening (--encrypted), inside rtt. */
struct sample {
	long long rtt, total, controller, agent, guest, function, e2e;
};

struct samples {
	struct sample *v;
	size_t n, cap;
};

/* Each hop is computed from one sample; percentiles are taken per hop. */
enum hop {
	HOP_CLIENT,
	HOP_CONTROLLER,
	HOP_LINK,
	HOP_AGENT,
	HOP_GUEST,
	HOP_FUNCTION,
	HOP_OUTSIDE,
	HOP_RTT,
	HOP_E2E,
	HOP_COUNT
};

static const char *const hop_names[HOP_COUNT] = {
	"client + HTTP to the controller",     "controller",        "controller -> agent link",
	"agent (virtio-serial, guest kernel)", "guest daemon",      "function",
	"platform share outside the guest",    "client round trip",
	"client sealing + opening (--encrypted)",
};
static const char *const hop_keys[HOP_COUNT] = { "client", "controller", "link",          "agent",
						 "guest",  "function",   "outside_guest", "rtt",
						 "client_e2e" };

static long long hop_us(const struct sample *s, enum hop h)
{
	switch (h) {
	case HOP_CLIENT: return s->rtt - s->total;
	case HOP_CONTROLLER: return s->controller;
	case HOP_LINK: return s->total - s->controller - s->agent;
	case HOP_AGENT: return s->agent - s->guest;
	case HOP_GUEST: return s->guest - s->function;
	case HOP_FUNCTION: return s->function;
	case HOP_OUTSIDE: return s->rtt - s->guest;
	case HOP_E2E: return s->e2e;
	default: return s->rtt;
	}
}

/* Failed calls by kind: an HTTP status, or one of these for a call without
 * a usable answer. */
enum { ERR_NO_ANSWER = 0, ERR_WRONG_BODY = 1, ERR_NO_TIMING = 2, ERR_KINDS = 12 };

struct errors {
	int kind[ERR_KINDS];
	long count[ERR_KINDS];
	int n;
	long total;
};

static void errors_add(struct errors *e, int kind, long count)
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

static void errors_name(int kind, char *buf, size_t size, bool key)
{
	if (kind == ERR_NO_ANSWER)
		snprintf(buf, size, key ? "no_answer" : "no answer");
	else if (kind == ERR_WRONG_BODY)
		snprintf(buf, size, key ? "wrong_body" : "200 with a wrong body");
	else if (kind == ERR_NO_TIMING)
		snprintf(buf, size, key ? "no_timing" : "200 without X-Ditto-Timing");
	else
		snprintf(buf, size, key ? "http_%d" : "HTTP %d", kind);
}

static json_t *errors_json(const struct errors *e)
{
	json_t *o = json_object();
	for (int i = 0; i < e->n; i++) {
		char k[32];
		errors_name(e->kind[i], k, sizeof(k), true);
		json_object_set_new(o, k, json_integer(e->count[i]));
	}
	return o;
}

static void errors_print(const struct errors *e)
{
	for (int i = 0; i < e->n; i++) {
		char k[48];
		errors_name(e->kind[i], k, sizeof(k), false);
		printf("%s%s x %ld", i ? ", " : "", k, e->count[i]);
	}
}

/* What the client threads of one phase share. */
struct phase {
	long long start_us;
	atomic_llong end_us; /* brought forward to stop the clients early */
	bool record;         /* false while warming up */
};

/* One client thread with its own kept-alive connection. */
struct worker {
	int index;
	const struct phase *phase;
	const struct bench_e2e *e2e; /* --encrypted, else NULL */
	CURL *curl;
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

static int worker_init(struct worker *w, int index, const char *url, const char *key)
{
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
	char target[512];
	snprintf(target, sizeof(target), "%s/v1/functions/echo/invoke", url);
	CURL *h = w->curl;
	curl_easy_setopt(h, CURLOPT_URL, target);
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

/* Calls echo back to back until the phase ends. */
static void *worker_main(void *data)
{
	struct worker *w = data;
	const struct phase *ph = w->phase;
	while (now_us() < atomic_load(&ph->end_us)) {
		int kind, r = worker_call(w, &kind);
		if (r < 0) {
			w->err = r;
			break;
		}
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

/* The processes on the path whose CPU time is accounted. */
enum { CPU_CLIENT, CPU_CONTROLLER, CPU_AGENT, CPU_QEMU, CPU_COUNT };
static const char *const cpu_names[CPU_COUNT] = { "client (this program)", "controller", "agent",
						  "QEMU (the guest)" };
static const char *const cpu_keys[CPU_COUNT] = { "client", "controller", "agent", "qemu" };

/* The outcome of one timed run (or of all of them). */
struct run {
	struct samples samples;
	struct errors errors;
	long cold_starts;
	double elapsed_s, throughput;
	long long cpu_us[CPU_COUNT]; /* -1: not known (a platform not started here) */
};

/* Runs every worker for seconds; with ret, collects what they measured. */
static int run_phase(struct worker *ws, int n, int seconds, struct run *ret)
{
	struct phase ph = { .start_us = now_us(), .record = ret != NULL };
	atomic_init(&ph.end_us, ph.start_us + (long long)seconds * 1000000LL);
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
	if (err < 0 || !ret)
		return err;
	memset(ret, 0, sizeof(*ret));
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

static void hop_stats(const struct samples *s, enum hop h, struct stats *ret)
{
	double *v = malloc((s->n ? s->n : 1) * sizeof(*v));
	if (!v) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		v[i] = (double)hop_us(&s->v[i], h);
	stats_compute(v, s->n, ret);
	free(v);
}

static json_t *latency_json(const struct stats *s)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", s->p50 / 1000, "p90", s->p90 / 1000,
			 "p99", s->p99 / 1000, "p999", s->p999 / 1000, "max", s->max / 1000);
}

/* The call with the longest round trip, to tell where a tail came from. */
static const struct sample *slowest(const struct samples *s)
{
	const struct sample *m = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (!m || s->v[i].rtt > m->rtt)
			m = &s->v[i];
	return m;
}

static json_t *hops_json(const struct samples *s)
{
	json_t *o = json_object();
	for (int h = 0; h < HOP_COUNT; h++) {
		struct stats st;
		hop_stats(s, (enum hop)h, &st);
		json_object_set_new(o, hop_keys[h],
				    json_pack("{s:f, s:f}", "p50", st.p50, "p99", st.p99));
	}
	return o;
}

/* CPU time per call (ok or not) and the cores it kept busy, or false when
 * that process's time is not known. */
static bool cpu_share(const struct run *r, int k, double *ret_us_per_call, double *ret_cores)
{
	long calls = (long)r->samples.n + r->errors.total;
	if (r->cpu_us[k] < 0 || calls == 0 || r->elapsed_s <= 0)
		return false;
	*ret_us_per_call = (double)r->cpu_us[k] / (double)calls;
	*ret_cores = (double)r->cpu_us[k] / 1e6 / r->elapsed_s;
	return true;
}

static json_t *run_json(const struct run *r)
{
	struct stats lat;
	hop_stats(&r->samples, HOP_RTT, &lat);
	json_t *cpu = json_object();
	for (int k = 0; k < CPU_COUNT; k++) {
		double per_call, cores;
		if (cpu_share(r, k, &per_call, &cores))
			json_object_set_new(
				cpu, cpu_keys[k],
				json_pack("{s:f, s:f}", "us_per_call", per_call, "cores", cores));
	}
	json_t *worst = json_object();
	const struct sample *m = slowest(&r->samples);
	for (int h = 0; m && h < HOP_COUNT; h++)
		json_object_set_new(worst, hop_keys[h], json_integer(hop_us(m, (enum hop)h)));
	return json_pack("{s:I, s:f, s:f, s:o, s:I, s:o, s:I, s:o, s:o, s:o}", "calls",
			 (json_int_t)r->samples.n, "elapsed_s", r->elapsed_s, "throughput",
			 r->throughput, "latency_ms", latency_json(&lat), "errors",
			 (json_int_t)r->errors.total, "errors_by_kind", errors_json(&r->errors),
			 "cold_starts", (json_int_t)r->cold_starts, "hops_us",
			 hops_json(&r->samples), "slowest_us", worst, "cpu", cpu);
}

static void print_run_row(const char *label, const struct run *r, double throughput)
{
	struct stats lat;
	hop_stats(&r->samples, HOP_RTT, &lat);
	printf("%-4s %9zu %9.1f %8.2f %8.2f %8.2f %9.2f %8.2f %7ld\n", label, r->samples.n,
	       throughput, lat.p50 / 1000, lat.p90 / 1000, lat.p99 / 1000, lat.p999 / 1000,
	       lat.max / 1000, r->errors.total);
}

/* Opens /proc/PID/NAME for reading, or returns NULL (also for no process). */
static FILE *proc_open(pid_t pid, const char *name)
{
	if (pid <= 0)
		return NULL;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	return fopen(path, "re");
}

/* User plus system CPU time of a process in us, or -1. */
static long long proc_cpu_us(pid_t pid)
{
	char buf[1024];
	FILE *f = proc_open(pid, "stat");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: count fields from its ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)((ut + st) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static void cpu_sample(const struct platform *p, long long ret[CPU_COUNT])
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	ret[CPU_CLIENT] = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
			  ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	ret[CPU_CONTROLLER] = proc_cpu_us(p->controller.pid);
	ret[CPU_AGENT] = proc_cpu_us(p->agent.pid);
	ret[CPU_QEMU] = proc_cpu_us(p->qemu_pid);
}

/* VmRSS of a process in KiB, or -1. */
static long rss_kib(pid_t pid)
{
	char line[256];
	FILE *f = proc_open(pid, "status");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

struct records {
	int n;
	double submit_s, drain_s;
	long stored, ok, rss_kib;
};

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
	ret->rss_kib = rss_kib(p->controller.pid);
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

/* The first calls of fresh versions of echo: each version is new to every
 * worker vCPU, so its first call starts the runtime's process there. */
struct cold {
	int versions;
	struct samples samples; /* the first calls the platform reported cold */
	long not_cold;          /* first calls it did not */
	struct errors errors;
};

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

/* The cold-start targets under TCG, in ms; 0 when none. */
static int cold_target_ms(const char *runtime)
{
	return strcmp(runtime, "python3") == 0 ? 1500 : strcmp(runtime, "nodejs") == 0 ? 2500 : 0;
}

static json_t *cold_json(const struct cold *c, const char *runtime)
{
	struct stats rtt, fn;
	hop_stats(&c->samples, HOP_RTT, &rtt);
	hop_stats(&c->samples, HOP_FUNCTION, &fn);
	int target = cold_target_ms(runtime);
	return json_pack("{s:i, s:I, s:i, s:I, s:o, s:o, s:o, s:o}", "versions", c->versions,
			 "calls", (json_int_t)c->samples.n, "not_cold", (int)c->not_cold, "errors",
			 (json_int_t)c->errors.total, "errors_by_kind", errors_json(&c->errors),
			 "latency_ms", latency_json(&rtt), "function_ms", latency_json(&fn),
			 "target_ms", target ? json_integer(target) : json_null());
}

static void print_cold(const struct cold *c, const struct run *all, const char *runtime)
{
	struct stats rtt, fn, warm;
	hop_stats(&all->samples, HOP_RTT, &warm);
	printf("warm calls (%s, the runs above): p50 %.2f ms, p99 %.2f ms\n", runtime,
	       warm.p50 / 1000, warm.p99 / 1000);
	if (c->versions == 0)
		return;
	hop_stats(&c->samples, HOP_RTT, &rtt);
	hop_stats(&c->samples, HOP_FUNCTION, &fn);
	printf("cold start (%s, the first call of each of %d fresh versions, %zu reported cold):\n"
	       "  round trip p50 %.1f ms, p90 %.1f ms, max %.1f ms; in the guest (process start,\n"
	       "  import, call) p50 %.1f ms, max %.1f ms",
	       runtime, c->versions, c->samples.n, rtt.p50 / 1000, rtt.p90 / 1000, rtt.max / 1000,
	       fn.p50 / 1000, fn.max / 1000);
	int target = cold_target_ms(runtime);
	if (target && c->samples.n)
		printf("; target p50 <= %d ms: %s", target,
		       rtt.p50 <= target * 1000.0 ? "met" : "NOT met");
	printf("\n");
	if (c->not_cold || c->errors.total) {
		printf("cold start calls not reported cold: %ld; failed: ", c->not_cold);
		errors_print(&c->errors);
		printf("\n");
	}
}

/* ---- the benchmark ---- */

static double median_of(double *v, size_t n)
{
	struct stats s;
	stats_compute(v, n, &s);
	return s.p50;
}

/* What --encrypted ran on: sealed to keys whose evidence verified, or not. */
static const char *e2e_label(const struct bench_opts *o, const struct bench_e2e *e2e)
{
	if (!o->encrypted)
		return "plain";
	return e2e->confidential ? "encrypted end to end, confidential (SEV-SNP evidence verified)"
				 : "encrypted end to end, NOT CONFIDENTIAL (no SEV-SNP evidence)";
}

static void print_text(const struct platform *p, const struct bench_opts *o, const struct run *runs,
		       const struct run *all, double tput, long rss_end, const struct records *rec,
		       const struct bench_e2e *e2e, const struct cold *cold)
{
	printf("ditto-bench invoke: echo (%s, persistent) client -> controller -> agent -> guest "
	       "VM, %s\n",
	       o->runtime, e2e_label(o, e2e));
	printf("accel=%s qemu=%s host cores=%d worker vCPUs=%d (fixed:%d) concurrency=%d, "
	       "%d x %d s after %d s of warm-up\n",
	       p->accel, p->qemu, p->cores, p->workers, p->workers, o->concurrency, o->reps,
	       o->duration_s, o->warmup_s);
	printf("\n%-4s %9s %9s %8s %8s %8s %9s %8s %7s\n", "run", "ok calls", "inv/s", "p50 ms",
	       "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors");
	for (int i = 0; i < o->reps; i++) {
		char label[16];
		snprintf(label, sizeof(label), "%d", i + 1);
		print_run_row(label, &runs[i], runs[i].throughput);
	}
	print_run_row("all", all, tput);
	printf("(all: inv/s is the median of the runs; latencies are over every call)\n");

	printf("\n%-40s %9s %9s\n", "where the time goes, all calls", "p50 us", "p99 us");
	for (int h = 0; h < HOP_COUNT; h++) {
		struct stats st;
		hop_stats(&all->samples, (enum hop)h, &st);
		printf("%-40s %9.0f %9.0f\n", hop_names[h], st.p50, st.p99);
	}
	printf("(each row is its own percentile, so the rows need not add up)\n");
	const struct sample *m = slowest(&all->samples);
	if (m)
		printf("slowest call: %.2f ms = client+HTTP %lld + controller %lld + link %lld + agent %lld "
		       "+ guest daemon %lld + function %lld us\n",
		       (double)m->rtt / 1000, hop_us(m, HOP_CLIENT), hop_us(m, HOP_CONTROLLER),
		       hop_us(m, HOP_LINK), hop_us(m, HOP_AGENT), hop_us(m, HOP_GUEST),
		       hop_us(m, HOP_FUNCTION));
	bool header = false;
	for (int k = 0; k < CPU_COUNT; k++) {
		double per_call, cores;
		if (!cpu_share(all, k, &per_call, &cores))
			continue;
		if (!header)
			printf("\n%-40s %9s %9s\n", "CPU time during the timed runs", "us/call",
			       "cores");
		header = true;
		printf("%-40s %9.0f %9.2f\n", cpu_names[k], per_call, cores);
	}
	printf("\n");
	printf("errors: ");
	if (all->errors.total == 0)
		printf("none");
	errors_print(&all->errors);
	printf("\ncold starts during the timed runs: %ld\n", all->cold_starts);
	print_cold(cold, all, o->runtime);
	if (rec->n > 0)
		printf("controller resident memory with %ld invocation records: %.1f MiB "
		       "(%d async calls submitted in %.1f s, all run %.1f s later; %ld of the kept "
		       "records ok)\n",
		       rec->stored, rec->rss_kib / 1024.0, rec->n, rec->submit_s, rec->drain_s,
		       rec->ok);
	if (rss_end >= 0)
		printf("controller resident memory at the end: %.1f MiB\n", rss_end / 1024.0);
}

static void print_json(const struct platform *p, const struct bench_opts *o, const struct run *runs,
		       const struct run *all, double tput, long rss_end, const struct records *rec,
		       const struct bench_e2e *e2e, const struct cold *cold)
{
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
				"benchmark", "invoke", "function", "echo", "mode", "persistent",
				"accel", p->accel, "qemu", p->qemu, "host_cores", p->cores,
				"workers", p->workers, "concurrency", o->concurrency, "duration_s",
				o->duration_s, "warmup_s", o->warmup_s, "reps", o->reps);
	json_t *arr = json_array();
	for (int i = 0; i < o->reps; i++)
		json_array_append_new(arr, run_json(&runs[i]));
	json_object_set_new(out, "runs", arr);
	json_object_set_new(out, "encrypted", json_boolean(o->encrypted));
	json_object_set_new(out, "evidence", o->encrypted ? json_string(e2e->evidence) : json_null());
	json_object_set_new(out, "confidential", json_boolean(o->encrypted && e2e->confidential));
	json_t *overall = run_json(all);
	json_object_set_new(overall, "throughput", json_real(tput));
	json_object_set_new(overall, "throughput_is", json_string("median of the runs"));
	json_object_set_new(out, "overall", overall);
	json_object_set_new(out, "runtime", json_string(o->runtime));
	struct stats warm;
	hop_stats(&all->samples, HOP_RTT, &warm);
	json_object_set_new(out, "warm_latency_ms", latency_json(&warm));
	json_object_set_new(out, "cold_start", cold_json(cold, o->runtime));
	json_object_set_new(out, "controller_rss_kib",
			    rss_end >= 0 ? json_integer(rss_end) : json_null());
	if (rec->n > 0)
		json_object_set_new(
			out, "records",
			json_pack("{s:i, s:f, s:f, s:I, s:I, s:o}", "submitted", rec->n, "submit_s",
				  rec->submit_s, "drain_s", rec->drain_s, "stored",
				  (json_int_t)rec->stored, "ok", (json_int_t)rec->ok,
				  "controller_rss_kib",
				  rec->rss_kib >= 0 ? json_integer(rec->rss_kib) : json_null()));
	char *text = json_dumps(out, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(out);
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
		if (worker_init(&ws[i], i, p.url, p.tenant_key) < 0) {
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
	if (o->warmup_s > 0 && run_phase(ws, n, o->warmup_s, NULL) < 0)
		goto out;
	double *tputs = calloc((size_t)o->reps, sizeof(double));
	if (!tputs)
		goto out;
	for (int i = 0; i < o->reps; i++) {
		if (!o->json)
			fprintf(stderr, "ditto-bench: run %d of %d (%d s)\n", i + 1, o->reps,
				o->duration_s);
		long long cpu0[CPU_COUNT], cpu1[CPU_COUNT];
		cpu_sample(&p, cpu0);
		if (run_phase(ws, n, o->duration_s, &runs[i]) < 0 ||
		    samples_append(&all.samples, &runs[i].samples) < 0) {
			free(tputs);
			goto out;
		}
		cpu_sample(&p, cpu1);
		for (int k = 0; k < CPU_COUNT; k++) {
			bool known = cpu0[k] >= 0 && cpu1[k] >= 0 && all.cpu_us[k] >= 0;
			runs[i].cpu_us[k] = cpu0[k] >= 0 && cpu1[k] >= 0 ? cpu1[k] - cpu0[k] : -1;
			all.cpu_us[k] = known ? all.cpu_us[k] + runs[i].cpu_us[k] : -1;
		}
		for (int k = 0; k < runs[i].errors.n; k++)
			errors_add(&all.errors, runs[i].errors.kind[k], runs[i].errors.count[k]);
		all.cold_starts += runs[i].cold_starts;
		all.elapsed_s += runs[i].elapsed_s;
		tputs[i] = runs[i].throughput;
	}
	double tput = median_of(tputs, (size_t)o->reps);
	free(tputs);
	if (!o->json && o->cold > 0 && !o->encrypted)
		fprintf(stderr, "ditto-bench: cold start: %d fresh versions, one call each\n",
			o->cold);
	if (measure_cold(&p, &ws[0], &cold) < 0)
		goto out;
	long rss_end = rss_kib(p.controller.pid);
	if (o->json)
		print_json(&p, o, runs, &all, tput, rss_end, &rec, &e2e, &cold);
	else
		print_text(&p, o, runs, &all, tput, rss_end, &rec, &e2e, &cold);
	rc = all.errors.total == 0 && cold.errors.total == 0 ? 0 : -EIO;
out:
	for (int i = 0; i < n; i++)
		worker_free(&ws[i]);
	for (int i = 0; i < o->reps; i++)
		free(runs[i].samples.v);
	free(all.samples.v);
	free(cold.samples.v);
	free(ws);
	free(runs);
	platform_stop(&p);
	return rc;
}
