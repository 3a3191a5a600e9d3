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
	/* The worker CPU port it went to (0: the control channel), and for a
	 * port's call what it takes to send it again. */
	int cpu;
	json_t *meta;
	uint8_t *input;
	size_t input_len;
	uint64_t timeout_ms;
};

static void call_free(struct call *c)
{
	json_decref(c->meta);
	free(c->input);
	free(c);
}

static struct invoke_pushed *find_pushed(const struct invoke *inv, const char *digest)
{
	for (size_t i = 0; i < inv->n_pushed; i++) {
		if (strcmp(inv->pushed[i].digest, digest) == 0)
			return &inv->pushed[i];
	}
	return NULL;
}

static bool pushed(const struct invoke *inv, const char *digest)
{
	return find_pushed(inv, digest) != NULL;
}

static int remember_pushed(struct invoke *inv, const char *digest)
{
	if (array_reserve(&inv->pushed, &inv->cap_pushed, inv->n_pushed + 1, sizeof(*inv->pushed),
			  16) < 0)
		return -ENOMEM;
	struct invoke_pushed *p = &inv->pushed[inv->n_pushed++];
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	p->acked = false;
	return 0;
}

struct push {
	struct invoke *inv;
	int generation;
	char digest[SHA256_HEX_SIZE];
};

static void forget_pushed(struct invoke *inv, const char *digest)
{
	struct invoke_pushed *p = find_pushed(inv, digest);
	if (p)
		*p = inv->pushed[--inv->n_pushed];
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
	} else if (status == 0 && inv->generation == p->generation) {
		/* Stored: a worker CPU's port may carry its invocations now (the
		 * ports are not ordered with the control channel). */
		struct invoke_pushed *known = find_pushed(inv, p->digest);
		if (known)
			known->acked = true;
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
		     void *data);

/* A port's call its CPU could not run (it left service) or that the port
 * lost while the VM lives: the control channel takes it. */
static bool should_resend(const struct invoke *inv, const struct call *c, int status, json_t *meta)
{
	if (c->cpu <= 0 || inv->generation != c->generation || !inv->ports.control)
		return false;
	if (status == -EREMOTEIO)
		return strcmp(json_string_value(json_object_get(meta, "code")) ?: "",
			      agent_err_name(AGENT_E_CPU_UNAVAILABLE)) == 0;
	return status == -ECONNRESET && !inv->stopping;
}

static int resend(struct invoke *inv, struct call *c)
{
	struct guest_chan *ctl = inv->ports.control(inv->ports.data);
	if (!ctl)
		return -ENOTCONN;
	int cpu = c->cpu;
	c->cpu = 0;
	json_t *meta = c->meta;
	c->meta = NULL;
	int r = guest_chan_request(ctl, WIRE_INVOKE, meta, c->input, c->input_len, c->timeout_ms,
				   on_reply, c);
	if (r == 0) {
		inv->resent++;
		log_debug("invocation_resent tenant=%s from_cpu=%d", inv->name, cpu);
	}
	return r;
}

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data)
{
	struct call *c = data;
	struct invoke *inv = c->inv;
	bool current = inv->generation == c->generation;
	if (c->cpu > 0 && current && inv->port_load[c->cpu] > 0)
		inv->port_load[c->cpu]--;
	if (should_resend(inv, c, status, meta) && resend(inv, c) == 0)
		return;
	if (current && inv->inflight > 0)
		set_inflight(inv, inv->inflight - 1);
	/* A VM stopped on purpose cancels its work; one that died loses it. */
	if (status == -ECONNRESET && inv->stopping)
		status = -ECANCELED;
	const uint8_t *body = f ? f->body : NULL;
	size_t body_len = f ? f->hdr.body_len : 0;
	c->cb(status, (status == 0 || status == -EREMOTEIO) ? meta : NULL, body, body_len, c->data);
	call_free(c);
}

int invoke_pick_port(const unsigned *load, const bool *usable, int n)
{
	int best = -1;
	for (int cpu = 1; cpu <= n; cpu++)
		if (usable[cpu] && (best < 0 || load[cpu] < load[best]))
			best = cpu;
	return best;
}

/* The worker CPU whose port takes req, or 0 for the control channel. */
static int port_for(const struct invoke *inv, const struct invoke_req *req)
{
	if (inv->ports.n <= 0 || req->e2e || req->cpu >= 0 || strcmp(req->mode, "persistent") != 0)
		return 0;
	const struct invoke_pushed *p = find_pushed(inv, req->digest);
	if (!p || !p->acked)
		return 0;
	bool usable[INVOKE_MAX_PORTS + 1] = { false };
	for (int cpu = 1; cpu <= inv->ports.n; cpu++)
		usable[cpu] = inv->ports.active(inv->ports.data, cpu) &&
			      inv->ports.port(inv->ports.data, cpu);
	int cpu = invoke_pick_port(inv->port_load, usable, inv->ports.n);
	return cpu > 0 ? cpu : 0;
}

static json_t *request_meta(const struct invoke_req *req)
{
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
	return meta;
}

/* Keeps what a port's call needs to go again through the control channel. */
static int keep_for_resend(struct call *c, json_t *meta, const struct invoke_req *req)
{
	c->meta = json_incref(meta);
	if (req->input_len) {
		c->input = malloc(req->input_len);
		if (!c->input)
			return -ENOMEM;
		memcpy(c->input, req->input, req->input_len);
	}
	c->input_len = req->input_len;
	return 0;
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
	*c = (struct call){ .inv = inv,
			    .generation = inv->generation,
			    .cb = cb,
			    .data = data,
			    .cpu = port_for(inv, req),
			    .timeout_ms = (uint64_t)req->timeout_ms + AGENT_GUARD_MS };
	json_t *meta = request_meta(req);
	int r = 0;
	if (c->cpu > 0) {
		chan = inv->ports.port(inv->ports.data, c->cpu);
		r = keep_for_resend(c, meta, req);
	}
	if (r == 0)
		r = guest_chan_request(chan, WIRE_INVOKE, meta, req->input, req->input_len,
				       c->timeout_ms, on_reply, c);
	else
		json_decref(meta);
	if (r < 0) {
		call_free(c);
		return r;
	}
	if (c->cpu > 0) {
		inv->port_load[c->cpu]++;
		inv->port_calls++;
	}
	inv->invocations++;
	set_inflight(inv, inv->inflight + 1);
	return 0;
}

void invoke_use_ports(struct invoke *inv, const struct invoke_ports *ports)
{
	inv->ports = *ports;
	if (inv->ports.n > INVOKE_MAX_PORTS)
		inv->ports.n = INVOKE_MAX_PORTS;
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
	if (inv->ports.n > 0) {
		json_object_set_new(o, "port_invocations",
				    json_integer((json_int_t)inv->port_calls));
		json_object_set_new(o, "port_resent", json_integer((json_int_t)inv->resent));
	}
}

void invoke_reset(struct invoke *inv)
{
	inv->n_pushed = 0;
	memset(inv->port_load, 0, sizeof(inv->port_load));
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
	memset(inv->port_load, 0, sizeof(inv->port_load));
	set_inflight(inv, 0);
}
