#include "invoke.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "guest_chan.h"
#include "log.h"
#include "vm.h"

/* Beyond the function's own timeout, how long the guest may take to answer
 * before the agent gives up on it: covers queueing behind other invocations
 * and a slow TCG guest. */
#define GUARD_MS 120000

struct call {
	struct vm *vm;
	int generation;
	invoke_done_fn cb;
	void *data;
};

static bool pushed(const struct vm *vm, const char *digest)
{
	for (size_t i = 0; i < vm->n_pushed; i++) {
		if (strcmp(vm->pushed[i], digest) == 0)
			return true;
	}
	return false;
}

static int remember_pushed(struct vm *vm, const char *digest)
{
	if (vm->n_pushed == vm->cap_pushed) {
		size_t cap = vm->cap_pushed ? vm->cap_pushed * 2 : 16;
		char(*p)[65] = realloc(vm->pushed, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		vm->pushed = p;
		vm->cap_pushed = cap;
	}
	strcpy(vm->pushed[vm->n_pushed++], digest);
	return 0;
}

struct push {
	struct vm *vm;
	int generation;
	char digest[65];
};

static void forget_pushed(struct vm *vm, const char *digest)
{
	for (size_t i = 0; i < vm->n_pushed; i++) {
		if (strcmp(vm->pushed[i], digest) == 0) {
			memmove(vm->pushed[i], vm->pushed[vm->n_pushed - 1], sizeof(vm->pushed[i]));
			vm->n_pushed--;
			return;
		}
	}
}

static void on_put(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		   void *data)
{
	struct push *p = data;
	struct vm *vm = p->vm;
	if (status < 0 && status != -ECONNRESET && vm->generation == p->generation) {
		log_warn("artifact_push_failed tenant=%s digest=%s status=%d code=%s", vm->spec.tenant,
			 p->digest, status, json_string_value(json_object_get(meta, "code")));
		/* Push it again next time rather than fail every call. */
		forget_pushed(vm, p->digest);
	}
	free(p);
}

/* Sends the artifact ahead of the invocation. The channel is ordered, so the
 * guest has stored it by the time it reads the invocation; nothing waits. */
static int push_artifact(struct vm *vm, const char *digest)
{
	void *buf;
	size_t len;
	int r = artifacts_get(&vm->agent->store, digest, &buf, &len);
	if (r < 0)
		return r;
	struct push *p = calloc(1, sizeof(*p));
	if (!p) {
		free(buf);
		return -ENOMEM;
	}
	p->vm = vm;
	p->generation = vm->generation;
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	r = guest_chan_request(vm_chan(vm), WIRE_ARTIFACT_PUT, json_pack("{s:s}", "digest", digest),
			       buf, len, GUARD_MS, on_put, p);
	free(buf);
	if (r < 0)
		free(p);
	if (r == 0)
		r = remember_pushed(vm, digest);
	return r;
}

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data)
{
	struct call *c = data;
	struct vm *vm = c->vm;
	if (vm->generation == c->generation && vm->inflight > 0)
		vm->inflight--;
	/* A VM stopped on purpose cancels its work; one that died loses it. */
	if (status == -ECONNRESET && vm->state == VM_STOPPING)
		status = -ECANCELED;
	const uint8_t *body = f ? f->body : NULL;
	size_t body_len = f ? f->hdr.body_len : 0;
	c->cb(vm, status, (status == 0 || status == -EREMOTEIO) ? meta : NULL, body, body_len,
	      c->data);
	free(c);
}

int invoke_start(struct vm *vm, const struct invoke_req *req, invoke_done_fn cb, void *data)
{
	struct agent *a = vm->agent;
	if (req->memory_mib < 0 || req->memory_mib > WIRE_MAX_MEMORY_MIB)
		return -EINVAL;
	if (!vm_is_ready(vm) || !vm_chan(vm))
		return -EAGAIN;
	if (!artifacts_has(&a->store, req->digest))
		return -ENOENT;
	if (vm->inflight >= a->cfg.max_inflight)
		return -EBUSY;
	if (!pushed(vm, req->digest)) {
		int r = push_artifact(vm, req->digest);
		if (r < 0)
			return r;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->generation = vm->generation;
	c->cb = cb;
	c->data = data;
	json_t *meta = json_pack("{s:s, s:s, s:i, s:I}", "digest", req->digest, "mode", req->mode,
				 "timeout_ms", req->timeout_ms, "max_output", (json_int_t)req->max_output);
	if (req->cpu >= 0)
		json_object_set_new(meta, "cpu", json_integer(req->cpu));
	if (req->memory_mib > 0)
		json_object_set_new(meta, "memory_mib", json_integer(req->memory_mib));
	int r = guest_chan_request(vm_chan(vm), WIRE_INVOKE, meta, req->input, req->input_len,
				   (uint64_t)req->timeout_ms + GUARD_MS, on_reply, c);
	if (r < 0) {
		free(c);
		return r;
	}
	vm->inflight++;
	vm->invocations++;
	return 0;
}
