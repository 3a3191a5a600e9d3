#include "invoke.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent_api.h"
#include "guest_chan.h"
#include "log.h"
#include "util.h"

/* Beyond the function's own timeout the guest has AGENT_GUARD_MS to answer
 * before the agent gives up on it: that covers queueing behind other
 * invocations and a slow TCG guest. */

struct call {
	struct invoke *inv;
	int generation;
	invoke_done_fn cb;
	void *data;
};

static bool pushed(const struct invoke *inv, const char *digest)
{
	for (size_t i = 0; i < inv->n_pushed; i++) {
		if (strcmp(inv->pushed[i], digest) == 0)
			return true;
	}
	return false;
}

static int remember_pushed(struct invoke *inv, const char *digest)
{
	if (array_reserve(&inv->pushed, &inv->cap_pushed, inv->n_pushed + 1, sizeof(*inv->pushed),
			  16) < 0)
		return -ENOMEM;
	strcpy(inv->pushed[inv->n_pushed++], digest);
	return 0;
}

struct push {
	struct invoke *inv;
	int generation;
	char digest[SHA256_HEX_SIZE];
};

static void forget_pushed(struct invoke *inv, const char *digest)
{
	for (size_t i = 0; i < inv->n_pushed; i++) {
		if (strcmp(inv->pushed[i], digest) == 0) {
			memmove(inv->pushed[i], inv->pushed[inv->n_pushed - 1],
				sizeof(inv->pushed[i]));
			inv->n_pushed--;
			return;
		}
	}
}

static void on_put(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		   void *data)
{
	struct push *p = data;
	struct invoke *inv = p->inv;
	if (status < 0 && status != -ECONNRESET && inv->generation == p->generation) {
		log_warn("artifact_push_failed tenant=%s digest=%s status=%d code=%s", inv->name,
			 p->digest, status, json_string_value(json_object_get(meta, "code")));
		/* Push it again next time rather than fail every call. */
		forget_pushed(inv, p->digest);
	}
	free(p);
}

/* Sends the artifact ahead of the invocation. The channel is ordered, so the
 * guest has stored it by the time it reads the invocation; nothing waits. */
static int push_artifact(struct invoke *inv, struct guest_chan *chan, const char *digest)
{
	void *buf;
	size_t len;
	int r = artifacts_get(inv->store, digest, &buf, &len);
	if (r < 0)
		return r;
	struct push *p = calloc(1, sizeof(*p));
	if (!p) {
		free(buf);
		return -ENOMEM;
	}
	p->inv = inv;
	p->generation = inv->generation;
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	r = guest_chan_request(chan, WIRE_ARTIFACT_PUT, json_pack("{s:s}", "digest", digest), buf,
			       len, AGENT_GUARD_MS, on_put, p);
	free(buf);
	if (r < 0)
		free(p);
	if (r == 0)
		r = remember_pushed(inv, digest);
	return r;
}

/* The in-flight count is n from now on. */
static void set_inflight(struct invoke *inv, unsigned n)
{
	if (n > inv->inflight && !inv->arrival_ns)
		inv->arrival_ns = uv_hrtime();
	inv->inflight = n;
	if (inv->changed)
		inv->changed(inv->changed_data);
}

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data)
{
	struct call *c = data;
	struct invoke *inv = c->inv;
	if (inv->generation == c->generation && inv->inflight > 0)
		set_inflight(inv, inv->inflight - 1);
	/* A VM stopped on purpose cancels its work; one that died loses it. */
	if (status == -ECONNRESET && inv->stopping)
		status = -ECANCELED;
	const uint8_t *body = f ? f->body : NULL;
	size_t body_len = f ? f->hdr.body_len : 0;
	c->cb(status, (status == 0 || status == -EREMOTEIO) ? meta : NULL, body, body_len, c->data);
	free(c);
}

int invoke_start(struct invoke *inv, struct guest_chan *chan, const struct invoke_req *req,
		 invoke_done_fn cb, void *data)
{
	if (req->memory_mib < 0 || req->memory_mib > WIRE_MAX_MEMORY_MIB)
		return -EINVAL;
	if (!chan)
		return -EAGAIN;
	if (!artifacts_has(inv->store, req->digest))
		return -ENOENT;
	if (inv->inflight >= inv->max_inflight)
		return -EBUSY;
	if (!pushed(inv, req->digest)) {
		int r = push_artifact(inv, chan, req->digest);
		if (r < 0)
			return r;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->inv = inv;
	c->generation = inv->generation;
	c->cb = cb;
	c->data = data;
	json_t *meta = json_pack("{s:s, s:s, s:i, s:I}", "digest", req->digest, "mode", req->mode,
				 "timeout_ms", req->timeout_ms, "max_output",
				 (json_int_t)req->max_output);
	if (req->cpu >= 0)
		json_object_set_new(meta, "cpu", json_integer(req->cpu));
	if (req->memory_mib > 0)
		json_object_set_new(meta, "memory_mib", json_integer(req->memory_mib));
	if (req->invocation)
		json_object_set_new(meta, "invocation", json_string(req->invocation));
	if (req->e2e)
		json_object_set_new(meta, "e2e", json_true());
	if (req->runtime)
		json_object_set_new(meta, "runtime", json_string(req->runtime));
	if (req->handler)
		json_object_set_new(meta, "handler", json_string(req->handler));
	int r = guest_chan_request(chan, WIRE_INVOKE, meta, req->input, req->input_len,
				   (uint64_t)req->timeout_ms + AGENT_GUARD_MS, on_reply, c);
	if (r < 0) {
		free(c);
		return r;
	}
	inv->invocations++;
	set_inflight(inv, inv->inflight + 1);
	return 0;
}

void invoke_init(struct invoke *inv, const char *name, struct artifacts *store,
		 unsigned max_inflight, invoke_changed_fn changed, void *changed_data)
{
	*inv = (struct invoke){ .name = name,
				.store = store,
				.max_inflight = max_inflight,
				.changed = changed,
				.changed_data = changed_data };
}

void invoke_free(struct invoke *inv)
{
	free(inv->pushed);
	inv->pushed = NULL;
	inv->n_pushed = inv->cap_pushed = 0;
}

unsigned invoke_inflight(const struct invoke *inv)
{
	return inv->inflight;
}

uint64_t invoke_take_arrival_ns(struct invoke *inv)
{
	uint64_t t = inv->arrival_ns;
	inv->arrival_ns = 0;
	return t;
}

void invoke_to_json(const struct invoke *inv, json_t *o)
{
	json_object_set_new(o, "inflight", json_integer(inv->inflight));
	json_object_set_new(o, "invocations", json_integer((json_int_t)inv->invocations));
}

void invoke_reset(struct invoke *inv)
{
	inv->n_pushed = 0;
	inv->stopping = false;
	inv->generation++;
	set_inflight(inv, 0);
}

void invoke_on_stopping(struct invoke *inv)
{
	inv->stopping = true;
}

void invoke_on_vm_down(struct invoke *inv)
{
	set_inflight(inv, 0);
}
