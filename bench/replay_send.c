/* ditto-bench replay's sender: one thread driving libcurl's multi interface,
 * so that every call leaves at its scheduled time whatever is still in
 * flight, and its latency counts from that time (a late sender shows as
 * latency). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "replay_int.h"

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct slot *sl = data;
	size_t len = size * n, room = sizeof(sl->reply) - 1 - sl->reply_len;
	memcpy(sl->reply + sl->reply_len, p, len < room ? len : room);
	sl->reply_len += len < room ? len : room;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
	struct slot *sl = data;
	size_t len = size * n, vlen;
	const char *v;
	if ((v = bench_header_value(p, len, "X-Ditto-Cold-Start:", &vlen))) {
		sl->cold = vlen == 4 && strncmp(v, "true", 4) == 0;
	} else if ((v = bench_header_value(p, len, "X-Ditto-Invocation-Id:", &vlen))) {
		if (vlen > ID_SIZE - 1)
			vlen = ID_SIZE - 1;
		memcpy(sl->s->ids[sl->call], v, vlen);
		sl->s->ids[sl->call][vlen] = '\0';
	}
	return len;
}

int sender_init(struct sender *s, const struct replay *R, const char *url, const char *key,
		struct run *run)
{
	memset(s, 0, sizeof(*s));
	s->R = R;
	s->url = url;
	s->run = run;
	int max = R->o->max_inflight;
	char auth[192];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	s->multi = curl_multi_init();
	s->slots = calloc((size_t)max, sizeof(*s->slots));
	s->ids = calloc(R->w.n_calls ? R->w.n_calls : 1, ID_SIZE);
	s->hdrs = curl_slist_append(NULL, auth);
	s->hdrs = s->hdrs ? curl_slist_append(s->hdrs, "Content-Type: application/json") : NULL;
	s->hdrs = s->hdrs ? curl_slist_append(s->hdrs, "Expect:") : NULL;
	if (!s->multi || !s->slots || !s->ids || !s->hdrs)
		return -ENOMEM;
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)max);
	for (int i = max - 1; i >= 0; i--) {
		struct slot *sl = &s->slots[i];
		if (!(sl->easy = curl_easy_init()))
			return -ENOMEM;
		sl->s = s;
		sl->next_free = s->free;
		s->free = sl;
	}
	return 0;
}

void sender_free(struct sender *s)
{
	for (int i = 0; s->slots && i < s->R->o->max_inflight; i++)
		if (s->slots[i].easy)
			curl_easy_cleanup(s->slots[i].easy);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->hdrs);
	free(s->slots);
	free(s->ids);
}

/* Starts call i on a free slot. */
static void sender_send(struct sender *s, size_t i, long long now_us)
{
	const struct workload *w = &s->R->w;
	const struct workload_call *c = &w->calls[i];
	struct slot *sl = s->free;
	s->free = sl->next_free;
	s->inflight++;
	sl->call = i;
	sl->reply_len = 0;
	sl->cold = false;
	double mb = fmin(c->memory_mb, s->R->o->max_memory_mb);
	snprintf(sl->body, sizeof(sl->body), "{\"ms\":%lld,\"mb\":%lld}", llround(c->duration_ms),
		 llround(mb));
	char target[512];
	snprintf(target, sizeof(target), "%s/v1/functions/%s/invoke", s->url, w->fns[c->fn].name);
	CURL *h = sl->easy;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, target);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, sl->body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, sl);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, sl);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->R->call_timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PRIVATE, sl);
	curl_multi_add_handle(s->multi, h);
	long long late = now_us - (s->start_us + (long long)(c->at_ms * 1000));
	if (late > s->late_us)
		s->late_us = late;
}

/* Records a finished call and frees its slot. */
static void sender_done(struct sender *s, CURL *h, CURLcode res, long long now_us)
{
	struct slot *sl;
	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sl);
	long http = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	curl_multi_remove_handle(s->multi, h);
	const struct workload_call *c = &s->R->w.calls[sl->call];
	struct call_result *r = &s->run->calls[sl->call];
	r->latency_ms = (double)(now_us - s->start_us) / 1000.0 - c->at_ms;
	r->cold_start = sl->cold;
	sl->reply[sl->reply_len] = '\0';
	/* An answered call whose result names an error (busy's {"error": ...},
	 * OpenWhisk's application error) did not do the work: it failed. */
	bool app_error = false;
	if (res == CURLE_OK && http == 200) {
		json_t *j = json_loads(sl->reply, 0, NULL);
		json_t *cpu = json_object_get(j, "cpu");
		r->vcpu = json_is_integer(cpu) ? (int)json_integer_value(cpu) : -1;
		app_error = json_object_get(j, "error") != NULL;
		json_decref(j);
	}
	if (res == CURLE_OK && http == 200 && !app_error) {
		r->status = CALL_OK;
	} else {
		r->status = res == CURLE_OPERATION_TIMEDOUT || http == 504 ? CALL_TIMEOUT
									   : CALL_FAILED;
		if (!s->first_failure[0])
			snprintf(s->first_failure, sizeof(s->first_failure),
				 "%s at %.0f ms: %s %ld %.100s", s->R->w.fns[c->fn].name, c->at_ms,
				 res != CURLE_OK ? curl_easy_strerror(res) : "HTTP", http,
				 sl->reply);
	}
	sl->next_free = s->free;
	s->free = sl;
	s->inflight--;
}

int sender_run(struct sender *s)
{
	const struct workload *w = &s->R->w;
	size_t next = 0;
	int r = 0;
	s->start_us = now_us();
	while (next < w->n_calls || s->inflight > 0) {
		long long now = now_us();
		while (next < w->n_calls &&
		       s->start_us + (long long)(w->calls[next].at_ms * 1000) <= now) {
			if (!s->free) {
				fprintf(stderr,
					"ditto-bench: %s: more than %d calls in flight at %.1f s: "
					"the platform does not keep up; the remaining %zu calls are "
					"not sent (scale the load down, or raise --max-inflight)\n",
					s->run->policy, s->R->o->max_inflight,
					(double)(now - s->start_us) / 1e6, w->n_calls - next);
				next = w->n_calls;
				r = -EAGAIN;
				break;
			}
			sender_send(s, next++, now);
		}
		int running;
		curl_multi_perform(s->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(s->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				sender_done(s, m->easy_handle, m->data.result, now_us());
		long long wait_us = 100000;
		if (next < w->n_calls)
			wait_us = s->start_us + (long long)(w->calls[next].at_ms * 1000) - now_us();
		if (wait_us > 100000)
			wait_us = 100000;
		if (wait_us > 0)
			curl_multi_poll(s->multi, NULL, 0, (int)((wait_us + 999) / 1000), NULL);
	}
	return r;
}
