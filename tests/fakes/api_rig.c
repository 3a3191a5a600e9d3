#include "fakes/api_rig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/files.h"

struct api_server_config api_rig_config(void)
{
	return (struct api_server_config){
		.listen_addr = "127.0.0.1",
		.max_input = 6u << 20,
		.max_artifact = 48u << 20,
		.default_timeout_ms = 60000,
		.max_timeout_ms = 600000,
		.max_output = 1u << 20,
		.max_inflight = 1024,
	};
}

void api_rig_init(struct api_rig *r)
{
	assert_int_equal(uv_loop_init(&r->loop), 0);
}

static void rig_on_stop(void *data)
{
	struct api_rig *r = data;
	api_server_stop(r->api);
	if (r->on_stop)
		r->on_stop(r->data);
}

void api_rig_start(struct api_rig *r, const struct api_server_config *cfg,
		   const struct api_server_ops *ops, void *ops_data, void (*on_stop)(void *data),
		   void *data)
{
	r->on_stop = on_stop;
	r->data = data;
	assert_int_equal(api_server_start(&r->loop, cfg, ops, ops_data, &r->api, &r->port), 0);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", r->port);
	fake_loop_thread_start(&r->lt, &r->loop, rig_on_stop, r);
}

void api_rig_stop(struct api_rig *r)
{
	fake_loop_thread_stop(&r->lt);
}

int api_rig_teardown(void **state)
{
	api_rig_stop(*state);
	free(*state);
	return 0;
}

/* ---- one VM behind it ------------------------------------------------------------------------- */

static struct vm *owner_find_vm(void *data, const char *tenant)
{
	struct api_vm_rig *v = data;
	return strcmp(tenant, v->vm->spec.tenant) == 0 ? v->vm : NULL;
}

static json_t *owner_vms_json(void *data)
{
	return json_array();
}

static int owner_start_vm(void *data, const struct vm_spec *spec, vm_ready_fn cb, void *cb_data,
			  struct vm **ret)
{
	return -EEXIST;
}

static json_t *owner_status_json(void *data)
{
	return json_object();
}

static bool owner_is_stopping(void *data)
{
	return false;
}

static const struct api_server_ops owner_ops = { owner_find_vm, owner_vms_json, owner_start_vm,
						 owner_status_json, owner_is_stopping };

static const struct guest_chan_ops chan_ops = { 0 };

void api_vm_rig_open(struct api_vm_rig *v, const char *name, const char *source,
		     unsigned max_inflight)
{
	api_rig_init(&v->srv);
	assert_int_equal(scratch_dir(v->dir, sizeof(v->dir), name), 0);
	assert_int_equal(artifacts_init(&v->store, v->dir, 1 << 20), 0);
	sha256_hex(source, strlen(source), v->digest);
	assert_int_equal(artifacts_put(&v->store, v->digest, source, strlen(source)), 0);
	v->vm = calloc(1, sizeof(*v->vm));
	assert_non_null(v->vm);
	strcpy(v->vm->spec.tenant, "t1");
	v->env.image = &v->image;
	v->vm->env = &v->env;
	v->vm->state = VM_READY;
	usage_init(&v->vm->usage, uv_hrtime());
	invoke_init(&v->vm->invoke, "t1", &v->store, max_inflight, NULL, NULL);
	fake_guest_open(&v->guest, &v->srv.loop, true, &chan_ops, NULL, &v->vm->chan);
}

static void vm_rig_on_stop(void *data)
{
	struct api_vm_rig *v = data;
	guest_chan_close(v->vm->chan);
	fake_guest_close(&v->guest);
	if (v->on_stop)
		v->on_stop(v->data);
}

void api_vm_rig_start(struct api_vm_rig *v, struct api_server_config *cfg,
		      void (*on_stop)(void *data), void *data)
{
	v->on_stop = on_stop;
	v->data = data;
	cfg->store = &v->store;
	api_rig_start(&v->srv, cfg, &owner_ops, v, vm_rig_on_stop, v);
}

void api_vm_rig_stop(struct api_vm_rig *v)
{
	api_rig_stop(&v->srv);
	invoke_free(&v->vm->invoke);
	free(v->vm);
	assert_int_equal(remove_tree(v->dir), 0);
}

int api_vm_rig_teardown(void **state)
{
	api_vm_rig_stop(*state);
	free(*state);
	return 0;
}
