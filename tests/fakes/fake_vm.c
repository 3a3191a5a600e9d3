#include "fakes/fake_vm.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakes/fake_loop.h"
#include "guest_chan.h"
#include "qmp_client.h"

static struct qmp_client *hook_qmp(void *data)
{
	return ((struct fake_vm *)data)->qmp;
}

static struct guest_chan *hook_chan(void *data)
{
	return ((struct fake_vm *)data)->chan;
}

static void hook_resized(void *data)
{
	((struct fake_vm *)data)->resized++;
}

static const struct vcpu_hooks hooks = { .qmp = hook_qmp,
					 .chan = hook_chan,
					 .resized = hook_resized };

static void on_qmp_ready(struct qmp_client *c, int status, void *data)
{
	assert_int_equal(status, 0);
	((struct fake_vm *)data)->qmp_ready = true;
}

static void on_qmp_event(struct qmp_client *c, const struct qmp_msg *ev, void *data)
{
	struct fake_vm *f = data;
	if (f->v_open)
		vcpu_on_qmp_event(&f->v, ev);
}

static void on_qmp_closed(struct qmp_client *c, int reason, void *data)
{
	((struct fake_vm *)data)->qmp = NULL;
}

static const struct qmp_client_ops qmp_ops = { .ready = on_qmp_ready,
					       .event = on_qmp_event,
					       .closed = on_qmp_closed };

static void on_guest_message(struct guest_chan *ch, const struct wire_frame *fr, json_t *meta,
			     void *data)
{
	struct fake_vm *f = data;
	if (fr->hdr.type == WIRE_CPU_EVENT && f->v_open)
		vcpu_on_guest_event(&f->v, meta);
}

static void on_guest_closed(struct guest_chan *ch, int reason, void *data)
{
	((struct fake_vm *)data)->chan = NULL;
}

static const struct guest_chan_ops chan_ops = { .message = on_guest_message,
						.closed = on_guest_closed };

static bool is_qmp_ready(void *arg)
{
	return ((struct fake_vm *)arg)->qmp_ready;
}

struct fake_vm *fake_vm_new(void)
{
	struct fake_vm *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->sleeper = fork();
	assert_true(f->sleeper >= 0);
	if (f->sleeper == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(uv_loop_init(&f->loop), 0);
	fake_qmp_open(&f->qemu, &f->loop, true, &qmp_ops, f, &f->qmp);
	fake_guest_open(&f->guest, &f->loop, true, &chan_ops, f, &f->chan);
	fake_run_until(&f->loop, is_qmp_ready, f, "the QMP session");
	return f;
}

static void on_vcpu_closed(void *data)
{
	((struct fake_vm *)data)->v_open = false;
}

void fake_vm_free(struct fake_vm *f)
{
	if (f->v_open) {
		vcpu_on_vm_down(&f->v, -ECANCELED);
		vcpu_close(&f->v, on_vcpu_closed);
	}
	qmp_client_close(f->qmp);
	if (f->chan)
		guest_chan_close(f->chan);
	fake_qmp_close(&f->qemu);
	fake_guest_close(&f->guest);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_false(f->v_open);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	kill(f->sleeper, SIGKILL);
	waitpid(f->sleeper, NULL, 0);
	free(f);
}

int fake_vm_setup(void **state)
{
	*state = fake_vm_new();
	return 0;
}

int fake_vm_teardown(void **state)
{
	fake_vm_free(*state);
	return 0;
}

void fake_vm_budget(struct fake_vm *f, int n)
{
	memset(&f->cores, 0, sizeof(f->cores));
	for (int i = 0; i < n; i++)
		f->cores.owned[i] = true;
	f->cores.n_owned = n;
	CPU_SET(0, &f->cores.shared);
}

json_t *fake_vm_cpus_json(struct fake_vm *f, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		char qom[64];
		snprintf(qom, sizeof(qom), "/machine/unattached/device[%d]", i);
		json_array_append_new(a, json_pack("{s:i, s:i, s:{s:i}, s:s}", "cpu-index", i,
						   "thread-id", (int)f->sleeper, "props", "core-id",
						   i, "qom-path", qom));
	}
	return a;
}

void fake_vm_start(struct fake_vm *f, const struct vcpu_limits *lim, int cores, int booted,
		   bool ready)
{
	fake_vm_budget(f, cores);
	vcpu_init(&f->v, &f->loop, &f->cores, lim, &hooks, f);
	f->v_open = true;
	json_t *cpus = fake_vm_cpus_json(f, booted);
	vcpu_on_boot_cpus(&f->v, cpus);
	json_decref(cpus);
	if (ready)
		vcpu_on_ready(&f->v);
}

void fake_vm_on_done(int status, json_t *report, void *data)
{
	struct fake_vm_done *d = data;
	assert_false(d->done);
	d->done = true;
	d->status = status;
	d->resized_before = d->vm->resized;
	d->workers = (int)json_integer_value(json_object_get(report, "workers"));
	d->steps = json_array_size(json_object_get(report, "steps"));
	const char *e = json_string_value(json_object_get(report, "error"));
	snprintf(d->error, sizeof(d->error), "%s", e ? e : "");
}

struct fake_vm_done *fake_vm_resize(struct fake_vm *f, int n)
{
	assert_true(f->n_done < FAKE_VM_MAX_DONE);
	struct fake_vm_done *d = &f->done[f->n_done++];
	d->vm = f;
	assert_int_equal(vcpu_set(&f->v, n, fake_vm_on_done, d), 0);
	return d;
}

static bool is_done(void *arg)
{
	return ((struct fake_vm_done *)arg)->done;
}

void fake_vm_wait_done(struct fake_vm *f, struct fake_vm_done *d)
{
	fake_run_until(&f->loop, is_done, d, "a resize");
}

enum worker_state fake_vm_state(const struct fake_vm *f, int cpu)
{
	assert_true(cpu >= 1 && cpu <= f->v.n_workers);
	return f->v.workers[cpu - 1].state;
}

struct state_wait {
	struct fake_vm *f;
	int cpu;
	enum worker_state s;
};

static bool in_state(void *arg)
{
	struct state_wait *w = arg;
	return fake_vm_state(w->f, w->cpu) == w->s;
}

void fake_vm_wait_state(struct fake_vm *f, int cpu, enum worker_state s)
{
	struct state_wait w = { f, cpu, s };
	fake_run_until(&f->loop, in_state, &w, worker_state_name(s));
}
