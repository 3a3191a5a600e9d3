/* ditto-bench chaos, the load: one thread sends calls open-loop through a
 * libcurl multi handle (a call that hangs holds up no other), another polls
 * the records of the async calls the platform accepted. Every call's input
 * is unique ({"chaos":SEQ}) and echo must return it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "api_client.h"
#include "bench.h"
#include "chaos.h"
#include "util.h"

/* Calls in flight at most; past it a call due is counted as not sent. */
#define MAX_INFLIGHT 4000
/* How often the poller looks at the records not yet seen terminal. */
#define POLL_MS 500
#define GET_TIMEOUT_MS 10000

struct call {
	CURL *h;
	struct buf reply;
	char body[48];
	bool async;
	bool retried; /* sent again on the next controller after a refusal */
	int window;
	int target; /* the controller it goes to: l->url[target] */
	uint64_t sent_us;
};

struct chaos_load {
	char url[BENCH_CONTROLLERS_MAX][160]; /* calls round robin over them */
	int n_url;
	char key[160];
	double rate, async_share;
	long call_timeout_ms;
	struct chaos_report *report;
	struct curl_slist *hdrs;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a synchronous call succeeded */
	int window;
	long seq;
	uint64_t probe_from_us, probe_ok_us;
	struct chaos_async *asyncs;
	size_t n_async, cap_async;
	atomic_bool stop_send, stop_poll;
	bool sender_started, poller_started;
	pthread_t sender, poller;
};

static struct chaos_tally *tally_of(struct chaos_load *l, int window)
{
	return window < 0 ? &l->report->before : &l->report->tally[window];
}

static void input_of(long seq, char *buf, size_t size)
{
	snprintf(buf, size, "{\"chaos\":%ld}", seq);
}

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct call *c = data;
	return buf_append(&c->reply, p, size * n) < 0 ? 0 : size * n;
}

static void call_free(struct call *c)
{
	if (c->h)
		curl_easy_cleanup(c->h);
	buf_free(&c->reply);
	free(c);
}

static int call_send(struct chaos_load *l, CURLM *m, struct call *c);

/* Starts the next call: async or not so that the share holds exactly. */
static int call_start(struct chaos_load *l, CURLM *m)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c || !(c->h = curl_easy_init())) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_lock(&l->lock);
	long seq = l->seq++;
	c->window = l->window;
	pthread_mutex_unlock(&l->lock);
	c->async = (long)((double)(seq + 1) * l->async_share) >
		   (long)((double)seq * l->async_share);
	c->target = (int)(seq % l->n_url);
	input_of(seq, c->body, sizeof(c->body));
	return call_send(l, m, c);
}

/* Sends c to its controller; frees it when that fails. */
static int call_send(struct chaos_load *l, CURLM *m, struct call *c)
{
	char target[256];
	snprintf(target, sizeof(target), "%s/v1/functions/echo/invoke%s", l->url[c->target],
		 c->async ? "?async=true" : "");
	curl_easy_setopt(c->h, CURLOPT_URL, target);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, l->hdrs);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, l->call_timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
	c->sent_us = time_now_us();
	if (curl_multi_add_handle(m, c->h) != CURLM_OK) {
		call_free(c);
		return -ENOMEM;
	}
	return 0;
}

static enum chaos_net net_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK: return CHAOS_NET_OK;
	case CURLE_COULDNT_CONNECT: return CHAOS_NET_REFUSED;
	case CURLE_OPERATION_TIMEDOUT: return CHAOS_NET_TIMEOUT;
	default: return CHAOS_NET_RESET;
	}
}

/* Counts a finished call in its window's tally; an accepted async call
 * joins the records to poll. */
static void call_done(struct chaos_load *l, struct call *c, CURLcode rc)
{
	struct chaos_answer a = { .net = net_of(rc),
				  .body = (const char *)c->reply.data,
				  .len = c->reply.len };
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &a.http);
	char code[CHAOS_CODE_SIZE], id[33];
	pthread_mutex_lock(&l->lock);
	struct chaos_tally *t = tally_of(l, c->window);
	if (!c->async) {
		enum chaos_verdict v = chaos_sync_judge(&a, c->body, code);
		t->sync_sent++;
		t->sync_ok += v == CHAOS_OK;
		t->sync_failed += v != CHAOS_OK;
		t->sync_unclear += v == CHAOS_UNCLEAR;
		if (v != CHAOS_OK)
			chaos_tally_code(t, code);
		if (v == CHAOS_OK && l->probe_from_us && c->sent_us >= l->probe_from_us &&
		    !l->probe_ok_us) {
			l->probe_ok_us = time_now_us();
			pthread_cond_broadcast(&l->changed);
		}
	} else {
		enum chaos_verdict v = chaos_submit_judge(&a, id, code);
		t->async_sent++;
		t->async_refused += v != CHAOS_OK;
		t->async_unclear += v == CHAOS_UNCLEAR;
		if (v == CHAOS_OK && array_reserve(&l->asyncs, &l->cap_async, l->n_async + 1,
						   sizeof(*l->asyncs), 1024) == 0) {
			struct chaos_async *r = &l->asyncs[l->n_async++];
			memset(r, 0, sizeof(*r));
			memcpy(r->id, id, sizeof(r->id));
			r->seq = strtol(c->body + strlen("{\"chaos\":"), NULL, 10);
			r->window = c->window;
			t->async_accepted++;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

/* Collects the calls that ended. Returns how many. */
static int reap(struct chaos_load *l, CURLM *m)
{
	CURLMsg *msg;
	int left, n = 0;
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct call *c = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(m, msg->easy_handle);
		/* A synchronous call a dead controller refused goes once to the
		 * next one; it counts as failed only if that fails too. */
		enum chaos_net net = net_of(rc);
		if (!c->async && !c->retried && l->n_url > 1 &&
		    (net == CHAOS_NET_REFUSED || net == CHAOS_NET_RESET)) {
			c->retried = true;
			c->target = (c->target + 1) % l->n_url;
			c->reply.len = 0;
			n += call_send(l, m, c) < 0; /* freed when not sent */
			continue;
		}
		call_done(l, c, rc);
		call_free(c);
		n++;
	}
	return n;
}

/* Sends on schedule until told to stop, then waits for the calls in flight. */
static void *sender_main(void *data)
{
	struct chaos_load *l = data;
	CURLM *m = curl_multi_init();
	if (!m)
		return NULL;
	uint64_t gap_us = (uint64_t)(1e6 / l->rate), next = time_now_us();
	int inflight = 0, running = 0;
	for (;;) {
		bool stopping = atomic_load(&l->stop_send);
		if (stopping && inflight == 0)
			break;
		uint64_t now = time_now_us();
		for (; !stopping && now >= next; next += gap_us) {
			if (inflight < MAX_INFLIGHT && call_start(l, m) == 0)
				inflight++;
		}
		curl_multi_perform(m, &running);
		inflight -= reap(l, m);
		now = time_now_us();
		long wait_ms = stopping || next <= now ? 50 : (long)((next - now) / 1000);
		curl_multi_poll(m, NULL, 0, (int)(wait_ms < 50 ? wait_ms : 50), NULL);
	}
	curl_multi_cleanup(m);
	return NULL;
}

/* Whether a record's JSON holds seq's own input as its result. */
static bool own_result(json_t *rec, long seq)
{
	char want[48];
	input_of(seq, want, sizeof(want));
	const char *res = json_string_value(json_object_get(rec, "result"));
	const char *enc = json_string_value(json_object_get(rec, "result_encoding"));
	return res && (!enc || !strcmp(enc, "utf-8")) && !strcmp(res, want);
}

/* Looks at one record once. */
static void poll_one(struct chaos_load *l, struct api_client *c, size_t i, const char *id, long seq)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/invocations/%s", id);
	json_t *rec = NULL;
	int st = api_client_call(c, "GET", path, NULL, 0, GET_TIMEOUT_MS, &rec);
	const char *status = json_string_value(json_object_get(rec, "status"));
	pthread_mutex_lock(&l->lock);
	if (st == 200 && status)
		chaos_async_observe(
			&l->asyncs[i], status,
			(int64_t)json_integer_value(json_object_get(rec, "finished_ms")),
			own_result(rec, seq));
	else if (st == 404)
		chaos_async_gone(&l->asyncs[i]);
	pthread_mutex_unlock(&l->lock);
	json_decref(rec);
}

/* Looks once at every record (all, or those not yet seen terminal).
 * Returns how many are still not terminal. */
static size_t poll_round(struct chaos_load *l, struct api_client *c, bool all)
{
	size_t pending = 0;
	pthread_mutex_lock(&l->lock);
	size_t n = l->n_async;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < n && !atomic_load(&l->stop_poll); i++) {
		char id[33];
		long seq;
		pthread_mutex_lock(&l->lock);
		bool look = all || (!l->asyncs[i].terminal && !l->asyncs[i].gone);
		memcpy(id, l->asyncs[i].id, sizeof(id));
		seq = l->asyncs[i].seq;
		pthread_mutex_unlock(&l->lock);
		if (!look)
			continue;
		poll_one(l, c, i, id, seq);
		pthread_mutex_lock(&l->lock);
		pending += !l->asyncs[i].terminal && !l->asyncs[i].gone;
		pthread_mutex_unlock(&l->lock);
	}
	return pending;
}

static int client_open(struct chaos_load *l, struct api_client *c)
{
	int r = api_client_init(c, l->url[0]);
	if (r == 0)
		r = api_client_set_bearer(c, l->key);
	if (r == 0)
		api_client_set_cancel(c, &l->stop_poll);
	return r;
}

static void *poller_main(void *data)
{
	struct chaos_load *l = data;
	struct api_client c = { 0 };
	if (client_open(l, &c) < 0)
		return NULL;
	while (!atomic_load(&l->stop_poll)) {
		poll_round(l, &c, false);
		bench_sleep_ms(POLL_MS);
	}
	api_client_free(&c);
	return NULL;
}

int chaos_load_start(const char *const *urls, int n_url, const char *key, double rate,
		     double async_share, long call_timeout_ms, struct chaos_report *report,
		     struct chaos_load **ret)
{
	if (n_url < 1 || n_url > BENCH_CONTROLLERS_MAX)
		return -EINVAL;
	struct chaos_load *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (int i = 0; i < n_url; i++)
		snprintf(l->url[i], sizeof(l->url[i]), "%s", urls[i]);
	l->n_url = n_url;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->rate = rate;
	l->async_share = async_share;
	l->call_timeout_ms = call_timeout_ms;
	l->report = report;
	l->window = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->changed, NULL);
	char auth[200];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	l->hdrs = curl_slist_append(NULL, auth);
	struct curl_slist *h = l->hdrs ? curl_slist_append(l->hdrs, "Content-Type: "
								    "application/json")
				       : NULL;
	h = h ? curl_slist_append(h, "Expect:") : NULL;
	int r = h ? -pthread_create(&l->sender, NULL, sender_main, l) : -ENOMEM;
	l->sender_started = r == 0;
	if (r == 0 && (r = -pthread_create(&l->poller, NULL, poller_main, l)) == 0)
		l->poller_started = true;
	if (r < 0) {
		chaos_load_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void chaos_load_window(struct chaos_load *l, enum chaos_kind k)
{
	pthread_mutex_lock(&l->lock);
	l->window = (int)k;
	pthread_mutex_unlock(&l->lock);
}

int chaos_load_wait_ok(struct chaos_load *l, uint64_t from_us, uint64_t deadline_us,
		       uint64_t *ret_us)
{
	pthread_mutex_lock(&l->lock);
	l->probe_from_us = from_us;
	l->probe_ok_us = 0;
	while (!l->probe_ok_us && time_now_us() < deadline_us) {
		/* Also wakes each second: the deadline is on the monotonic clock. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&l->changed, &l->lock, &ts);
	}
	uint64_t ok = l->probe_ok_us;
	l->probe_from_us = 0;
	pthread_mutex_unlock(&l->lock);
	if (!ok)
		return -ETIMEDOUT;
	*ret_us = ok;
	return 0;
}

static void sender_stop(struct chaos_load *l)
{
	atomic_store(&l->stop_send, true);
	if (l->sender_started)
		pthread_join(l->sender, NULL);
	l->sender_started = false;
}

static void poller_stop(struct chaos_load *l)
{
	atomic_store(&l->stop_poll, true);
	if (l->poller_started)
		pthread_join(l->poller, NULL);
	l->poller_started = false;
}

int chaos_load_finish(struct chaos_load *l, uint64_t deadline_us)
{
	sender_stop(l);
	poller_stop(l);
	atomic_store(&l->stop_poll, false);
	struct api_client c = { 0 };
	int r = client_open(l, &c);
	if (r < 0)
		return r;
	while (poll_round(l, &c, false) > 0 && time_now_us() < deadline_us)
		bench_sleep_ms(POLL_MS);
	/* Once more each: an outcome seen terminal must not change. */
	poll_round(l, &c, true);
	api_client_free(&c);
	for (size_t i = 0; i < l->n_async; i++)
		chaos_tally_async(tally_of(l, l->asyncs[i].window), chaos_async_end(&l->asyncs[i]));
	return 0;
}

void chaos_load_free(struct chaos_load *l)
{
	if (!l)
		return;
	sender_stop(l);
	poller_stop(l);
	curl_slist_free_all(l->hdrs);
	free(l->asyncs);
	pthread_cond_destroy(&l->changed);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
