#include "agent_stream.h"
#include "agent_stream_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_link.h"
#include "fnpkg.h"
#include "invoker.h"
#include "log.h"
#include "util.h"

/* How often a waiting caller looks at its host's generation. */
#define GEN_POLL_MS 100
#define BUCKETS 64
#define READ_CHUNK (64 * 1024)

/* A caller waiting for its answer, woken by its id. */
struct waiter {
	struct waiter *next;
	uint32_t id;
	pthread_cond_t cond;
	bool done;
	int status;
	json_t *json;
	struct agent_stream_body body;
};

/* One open stream: its socket, what is queued for it and who waits on it.
 * Guarded by its stream's lock; freed by the last of its two threads. */
struct conn {
	struct stream *st;
	int fd;
	char token[256]; /* the one it was opened with */
	bool dead;
	int threads;      /* reader and writer still running */
	struct buf out;   /* frames queued */
	struct buf spare; /* frames being sent, from spare_off */
	size_t spare_off;
	bool writing; /* spare is being sent (by a caller or the writer) */
	/* The writer's: frames were queued, a caller stopped sending, or dead. */
	pthread_cond_t wake;
	uint32_t next_id;
	unsigned window, inflight;
	struct waiter *buckets[BUCKETS];
	struct wire_decoder dec; /* the reader's only */
};

enum stream_state { STREAM_DOWN, STREAM_OPENING, STREAM_UP };

/* Everything sent to one agent address. */
struct stream {
	struct stream *next;
	struct agent_streams *set;
	char address[256];
	pthread_mutex_t lock;
	pthread_cond_t changed; /* opened or failed to, room in the window, a conn ended */
	enum stream_state state;
	struct conn *conn; /* when UP */
};

struct agent_streams {
	pthread_mutex_t lock; /* the list and the thread count */
	pthread_cond_t ended;
	struct stream *list;
	int conns; /* whose threads still run */
};

/* A condition waited on with CLOCK_MONOTONIC deadlines (wait_slice). */
static void cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/* ---- waiters ------------------------------------------------------------------------- */

static struct waiter **bucket(struct conn *c, uint32_t id)
{
	return &c->buckets[id % BUCKETS];
}

static void waiter_add(struct conn *c, struct waiter *w)
{
	struct waiter **b = bucket(c, w->id);
	w->next = *b;
	*b = w;
	c->inflight++;
}

/* Takes the waiter for id out, NULL when none waits (it gave up). */
static struct waiter *waiter_take(struct conn *c, uint32_t id)
{
	for (struct waiter **p = bucket(c, id); *p; p = &(*p)->next) {
		if ((*p)->id != id)
			continue;
		struct waiter *w = *p;
		*p = w->next;
		c->inflight--;
		return w;
	}
	return NULL;
}

static void waiter_finish(struct waiter *w, int status)
{
	w->status = status;
	w->done = true;
	pthread_cond_signal(&w->cond);
}

/* ---- the threads ----------------------------------------------------------------------- */

/* One of c's threads ends (its stream's lock held); the last one frees c
 * and returns true: it then calls conn_ended, after the lock is let go. */
static bool conn_release(struct conn *c)
{
	if (--c->threads > 0)
		return false;
	close(c->fd);
	buf_free(&c->out);
	buf_free(&c->spare);
	wire_decoder_free(&c->dec);
	pthread_cond_destroy(&c->wake);
	free(c);
	return true;
}

/* The last thing a conn's last thread does: agent_streams_free may free
 * the streams once every conn has ended. */
static void conn_ended(struct agent_streams *set)
{
	pthread_mutex_lock(&set->lock);
	set->conns--;
	pthread_cond_broadcast(&set->ended);
	pthread_mutex_unlock(&set->lock);
}

/* Ends c under its stream's lock: every caller on it fails -ECONNRESET and
 * the stream is down until the next call opens it again. */
static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	shutdown(c->fd, SHUT_RDWR);
	for (size_t i = 0; i < BUCKETS; i++) {
		while (c->buckets[i]) {
			struct waiter *w = c->buckets[i];
			c->buckets[i] = w->next;
			waiter_finish(w, -ECONNRESET);
		}
	}
	c->inflight = 0;
	if (c->st->conn == c) {
		c->st->conn = NULL;
		c->st->state = STREAM_DOWN;
	}
	pthread_cond_signal(&c->wake);
	pthread_cond_broadcast(&c->st->changed);
}

/* With the lock: makes the queued frames the ones being sent, unless some
 * are being sent still. */
static void take_queued(struct conn *c)
{
	if (c->spare.len)
		return;
	struct buf b = c->out;
	c->out = c->spare;
	c->spare = b;
	c->spare_off = 0;
}

/* Sends what callers queued and could not send themselves without
 * blocking, all that is queued in one write per wake-up. It outlives any
 * caller sending (writing), so the conn does too. */
static void *writer_main(void *arg)
{
	struct conn *c = arg;
	struct stream *st = c->st;
	pthread_setname_np(pthread_self(), "link-writer");
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (c->writing || (!c->dead && c->out.len == 0 && c->spare.len == 0))
			pthread_cond_wait(&c->wake, &st->lock);
		if (c->dead)
			break;
		take_queued(c);
		c->writing = true;
		pthread_mutex_unlock(&st->lock);
		bool ok = agent_stream_send_all(c->fd, c->spare.data + c->spare_off,
				   c->spare.len - c->spare_off);
		pthread_mutex_lock(&st->lock);
		c->writing = false;
		buf_reset(&c->spare);
		if (!ok) {
			log_info("link_write_failed agent=%s err=%s", st->address, strerror(errno));
			conn_kill(c);
		}
	}
	struct agent_streams *set = st->set;
	bool last = conn_release(c);
	pthread_mutex_unlock(&st->lock);
	if (last)
		conn_ended(set);
	return NULL;
}

/* Hands an answer frame to its caller; false when the agent broke the
 * protocol. */
static bool deliver(struct conn *c, const struct wire_frame *f)
{
	json_t *meta = link_meta_parse(f);
	int status = -EPROTO;
	size_t rlen = 0;
	if (f->hdr.type == WIRE_LINK_RESULT && meta &&
	    link_result_split(meta, f->hdr.body_len, &rlen) == 0)
		status = 200;
	else if (f->hdr.type == WIRE_LINK_ERROR && meta)
		status = link_error_status(meta);
	if (status < 0) {
		json_decref(meta);
		return false;
	}
	uint8_t *body = NULL;
	if (f->hdr.body_len && !(body = malloc(f->hdr.body_len))) {
		json_decref(meta);
		return false;
	}
	if (body)
		memcpy(body, f->body, f->hdr.body_len);
	pthread_mutex_lock(&c->st->lock);
	struct waiter *w = waiter_take(c, f->hdr.id);
	if (w) {
		w->json = meta;
		w->body = (struct agent_stream_body){ body, f->hdr.body_len, rlen };
		waiter_finish(w, status);
		pthread_cond_broadcast(&c->st->changed);
	}
	pthread_mutex_unlock(&c->st->lock);
	if (!w) {
		json_decref(meta);
		free(body);
	}
	return true;
}

/* Takes the answers off the stream until it ends. */
static void *reader_main(void *arg)
{
	struct conn *c = arg;
	pthread_setname_np(pthread_self(), "link-reader");
	uint8_t *buf = malloc(READ_CHUNK);
	bool ok = buf != NULL;
	while (ok) {
		ssize_t n = read(c->fd, buf, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || wire_decoder_feed(&c->dec, buf, (size_t)n) < 0)
			break;
		struct wire_frame f;
		int r;
		while (ok && (r = wire_decoder_next(&c->dec, &f)) != 0)
			ok = r == 1 && deliver(c, &f);
	}
	free(buf);
	struct stream *st = c->st;
	pthread_mutex_lock(&st->lock);
	if (!c->dead)
		log_info("link_closed agent=%s%s", st->address, ok ? "" : " err=protocol");
	conn_kill(c);
	bool last = conn_release(c);
	pthread_mutex_unlock(&st->lock);
	if (last)
		conn_ended(st->set);
	return NULL;
}

/* ---- opening a stream --------------------------------------------------------------------- */

/* Starts c's two threads; false when they could not start. */
static bool conn_start(struct conn *c)
{
	struct agent_streams *set = c->st->set;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	c->threads = 2;
	pthread_mutex_lock(&set->lock);
	set->conns++;
	pthread_mutex_unlock(&set->lock);
	if (pthread_create(&t, &attr, reader_main, c) != 0) {
		c->threads = 1;
		conn_release(c);
		conn_ended(set);
		pthread_attr_destroy(&attr);
		return false;
	}
	bool ok = pthread_create(&t, &attr, writer_main, c) == 0;
	if (!ok) {
		/* The reader ends on the shutdown and frees c alone. */
		pthread_mutex_lock(&c->st->lock);
		conn_kill(c);
		c->threads--;
		pthread_mutex_unlock(&c->st->lock);
	}
	pthread_attr_destroy(&attr);
	return ok;
}

/* Opens st's stream on the caller's thread (st->state is OPENING, the lock
 * not held). Returns 0 with st UP, or what handshake returns. */
static int stream_open(struct stream *st, const char *token, json_t **ret_json)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->st = st;
	c->next_id = 1;
	snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
	cond_init(&c->wake);
	int r = agent_stream_handshake(st->address, c->token, &c->dec, &c->window, &c->fd,
				       ret_json);
	if (r == 0 && !conn_start(c)) {
		r = -EAGAIN; /* c is freed, or the reader's to free */
	} else if (r != 0) {
		pthread_cond_destroy(&c->wake);
		free(c);
	}
	pthread_mutex_lock(&st->lock);
	if (r == 0) {
		log_info("link_opened agent=%s window=%u", st->address, c->window);
		st->conn = c;
		st->state = STREAM_UP;
	} else {
		st->state = STREAM_DOWN;
	}
	pthread_cond_broadcast(&st->changed);
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* ---- calls ------------------------------------------------------------------------------ */

static struct stream *stream_get(struct agent_streams *set, const char *address)
{
	pthread_mutex_lock(&set->lock);
	struct stream *st = set->list;
	while (st && strcmp(st->address, address) != 0)
		st = st->next;
	if (!st && strlen(address) < sizeof(st->address) && (st = calloc(1, sizeof(*st)))) {
		st->set = set;
		snprintf(st->address, sizeof(st->address), "%s", address);
		pthread_mutex_init(&st->lock, NULL);
		cond_init(&st->changed);
		st->next = set->list;
		set->list = st;
	}
	pthread_mutex_unlock(&set->lock);
	return st;
}

/* Why a wait ends early: its deadline (0: none) passed, or its host's
 * generation moved. */
static int wait_check(const struct link_call *c, uint64_t deadline_us)
{
	if (c->gen && atomic_load(c->gen) != c->gen_expected)
		return -ECANCELED;
	if (deadline_us && time_now_us() >= deadline_us)
		return -ETIMEDOUT;
	return 0;
}

/* Waits on cond (with st's lock) for at most GEN_POLL_MS. */
static void wait_slice(pthread_cond_t *cond, struct stream *st)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += GEN_POLL_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(cond, &st->lock, &ts);
}

/* With st's lock: waits until st is UP with room in its window, opening
 * it when it is down. Returns 0 with the lock held and the conn in *ret,
 * or an answer for the caller (the lock held too). */
static int stream_ready(struct stream *st, const struct link_call *c, uint64_t deadline_us,
			json_t **ret_json, struct conn **ret)
{
	for (;;) {
		/* A caller whose host's generation moved touches nothing: its
		 * token may be an earlier run's. */
		int r = wait_check(c, deadline_us);
		if (r < 0)
			return r;
		struct conn *k = st->conn;
		/* A stream opened with another token is an agent's earlier run. */
		if (k && strcmp(k->token, c->token ? c->token : "") != 0) {
			conn_kill(k);
		} else if (k && k->inflight < k->window) {
			*ret = k;
			return 0;
		}
		if (st->state == STREAM_DOWN) {
			st->state = STREAM_OPENING;
			pthread_mutex_unlock(&st->lock);
			r = stream_open(st, c->token, ret_json);
			pthread_mutex_lock(&st->lock);
			if (r != 0)
				return r;
			continue;
		}
		wait_slice(&st->changed, st);
	}
}

/* With the lock, after queueing: the caller sends what is queued itself
 * when nobody else is sending and the socket takes it all without
 * blocking (no hand-off to the writer at low load); anything else is the
 * writer's. The lock is let go while sending. */
static void send_queued(struct stream *st, struct conn *k)
{
	if (k->writing || k->spare.len || k->dead) {
		pthread_cond_signal(&k->wake);
		return;
	}
	take_queued(k);
	k->writing = true;
	pthread_mutex_unlock(&st->lock);
	size_t off = 0;
	bool failed = false;
	while (off < k->spare.len) {
		ssize_t n = send(k->fd, k->spare.data + off, k->spare.len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			failed = true;
			break;
		}
		off += (size_t)n;
	}
	pthread_mutex_lock(&st->lock);
	k->writing = false;
	k->spare_off = off;
	if (off == k->spare.len)
		buf_reset(&k->spare);
	if (failed)
		conn_kill(k);
	/* The writer only for what is left (queued meanwhile, or the socket
	 * full): waking it for nothing cost a wake-up per call. */
	if (k->out.len || k->spare.len)
		pthread_cond_signal(&k->wake);
}

/* Waits (with st's lock) until w is answered, its deadline passes or its
 * host's generation moves; a caller that gives up tells the agent. */
static int await(struct stream *st, struct conn *k, struct waiter *w, const struct link_call *c,
		 uint64_t deadline_us)
{
	while (!w->done) {
		int r = wait_check(c, deadline_us);
		/* Not found: answered (done) just now. */
		if (r < 0 && waiter_take(k, w->id)) {
			if (link_frame_append(&k->out, WIRE_LINK_CANCEL, w->id, "{}", 2, NULL, 0) ==
			    0)
				pthread_cond_signal(&k->wake);
			pthread_cond_broadcast(&st->changed);
			return r;
		}
		if (r == 0)
			wait_slice(&w->cond, st);
	}
	return w->status;
}

int agent_stream_invoke(struct agent_streams *s, const struct link_call *c, const json_t *meta,
			json_t **ret_json, struct agent_stream_body *ret_body, int64_t *ret_rtt_us)
{
	*ret_json = NULL;
	*ret_body = (struct agent_stream_body){ 0 };
	uint64_t t0 = time_now_us();
	uint64_t deadline_us = c->timeout_ms > 0 ? t0 + (uint64_t)c->timeout_ms * 1000 : 0;
	struct stream *st = stream_get(s, c->address);
	if (!st)
		return -ENOMEM;
	struct waiter w = { 0 };
	cond_init(&w.cond);
	pthread_mutex_lock(&st->lock);
	struct conn *k;
	int r = stream_ready(st, c, deadline_us, ret_json, &k);
	if (r == 0) {
		if (k->next_id == 0)
			k->next_id = 1;
		w.id = k->next_id++;
		r = link_frame_append_json(&k->out, WIRE_LINK_INVOKE, w.id, meta, c->body,
					   c->body_len);
	}
	if (r == 0) {
		waiter_add(k, &w);
		send_queued(st, k);
		r = await(st, k, &w, c, deadline_us);
	}
	pthread_mutex_unlock(&st->lock);
	pthread_cond_destroy(&w.cond);
	if (ret_rtt_us)
		*ret_rtt_us = (int64_t)(time_now_us() - t0);
	if (w.done) {
		*ret_json = w.json;
		*ret_body = w.body;
	}
	return r;
}

/* ---- meta and results ----------------------------------------------------------------------- */

json_t *agent_stream_meta(const struct store_function *fn, const char *id, const char *vm)
{
	bool handler = fn_runtime_has_handler(fn->limits.runtime);
	struct link_invoke p = {
		.vm = vm,
		.artifact = fn->digest,
		.mode = fn->limits.mode,
		.timeout_ms = fn->limits.timeout_ms,
		.memory_mib = fn->limits.memory_mib,
		.invocation = fn->limits.encrypted ? (id ? id : "") : NULL,
		.e2e = fn->limits.encrypted,
		.runtime = handler ? fn_runtime_name(fn->limits.runtime) : NULL,
		.handler = handler ? fn->limits.handler : NULL,
	};
	return link_invoke_meta(&p);
}

int agent_stream_call(struct agent_streams *s, struct link_pool *p, const struct link_call *c,
		      const struct store_function *fn, const char *id, const char *vm,
		      json_t **ret_json, struct agent_stream_body *ret_body, int64_t *ret_rtt_us)
{
	*ret_body = (struct agent_stream_body){ 0 };
	if (!s) {
		/* Names, a digest and a handler of bounded lengths always fit. */
		char path[1024];
		invoker_agent_path(fn, id, vm, path, sizeof(path));
		struct link_call h = *c;
		h.method = "POST";
		h.path = path;
		return link_do(p, &h, ret_json, ret_rtt_us);
	}
	json_t *meta = agent_stream_meta(fn, id, vm);
	if (!meta)
		return -ENOMEM;
	int r = agent_stream_invoke(s, c, meta, ret_json, ret_body, ret_rtt_us);
	json_decref(meta);
	return r;
}

int agent_stream_body_take(struct agent_stream_body *body, struct verdict *v)
{
	if (!body->data)
		return 0;
	size_t rlen = body->result_len, llen = body->len - body->result_len;
	uint8_t *log = llen ? malloc(llen) : NULL;
	if (llen && !log)
		return -ENOMEM;
	if (llen)
		memcpy(log, body->data + rlen, llen);
	free(v->result);
	free(v->log);
	/* The result keeps the buffer: the log's bytes after it go unused. */
	v->result = rlen ? body->data : NULL;
	v->result_len = rlen;
	v->log = log;
	v->log_len = llen;
	if (!rlen)
		free(body->data);
	*body = (struct agent_stream_body){ 0 };
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------------------- */

int agent_streams_new(struct agent_streams **ret)
{
	struct agent_streams *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->ended, NULL);
	*ret = s;
	return 0;
}

void agent_streams_free(struct agent_streams *s)
{
	if (!s)
		return;
	for (struct stream *st = s->list; st; st = st->next) {
		pthread_mutex_lock(&st->lock);
		if (st->conn)
			conn_kill(st->conn);
		pthread_mutex_unlock(&st->lock);
	}
	pthread_mutex_lock(&s->lock);
	while (s->conns > 0)
		pthread_cond_wait(&s->ended, &s->lock);
	pthread_mutex_unlock(&s->lock);
	while (s->list) {
		struct stream *st = s->list;
		s->list = st->next;
		pthread_mutex_destroy(&st->lock);
		pthread_cond_destroy(&st->changed);
		free(st);
	}
	pthread_cond_destroy(&s->ended);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
