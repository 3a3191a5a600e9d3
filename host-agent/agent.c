#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "util.h"
#include "vm.h"

void agent_config_defaults(struct agent_config *c)
{
	*c = (struct agent_config){
		.listen_addr = "127.0.0.1",
		.port = 7070,
		.data_dir = "data/agent",
		.image_dir = "build/guest",
		.qemu = "qemu-system-x86_64",
		.cores = "all",
		.accel = ACCEL_AUTO,
		.ping_interval_ms = 2000,
		.ping_timeout_ms = 15000,
		.boot_timeout_ms = 120000,
		.max_artifact = 48u << 20,
		.max_input = 6u << 20,
		.max_output = 1u << 20,
		.max_timeout_ms = 300000,
		.default_timeout_ms = 60000,
		.max_inflight = 1024,
	};
}

struct vm *agent_find_vm(struct agent *a, const char *tenant)
{
	for (struct vm *vm = a->vms; vm; vm = vm->next) {
		if (strcmp(vm->spec.tenant, tenant) == 0)
			return vm;
	}
	return NULL;
}

void agent_add_vm(struct agent *a, struct vm *vm)
{
	vm->next = a->vms;
	a->vms = vm;
}

void agent_remove_vm(struct agent *a, struct vm *vm)
{
	for (struct vm **p = &a->vms; *p; p = &(*p)->next) {
		if (*p == vm) {
			*p = vm->next;
			return;
		}
	}
}

/* Reads "QEMU emulator version X.Y.Z ..." from the binary itself. */
static int qemu_probe(struct agent *a)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "'%s' -version 2>/dev/null", a->cfg.qemu);
	FILE *p = popen(cmd, "re");
	if (!p)
		return -errno;
	char line[256] = "";
	char *got = fgets(line, sizeof(line), p);
	int st = pclose(p);
	if (!got || st != 0 || sscanf(line, "QEMU emulator version %63s", a->qemu_version) != 1)
		return -ENOENT;
	a->qemu_major = atoi(a->qemu_version);
	return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;
	log_info("agent_signal signal=%d", signum);
	agent_shutdown(a);
}

int agent_init(struct agent *a, uv_loop_t *loop, const struct agent_config *cfg, char *err,
	       size_t err_len)
{
	memset(a, 0, sizeof(*a));
	a->loop = loop;
	a->cfg = *cfg;
	int r = cores_init(&a->cores, cfg->cores);
	if (r < 0) {
		snprintf(err, err_len, "bad core budget \"%s\": %s", cfg->cores,
			 r == -ERANGE ? "cores outside this process's CPU set" : "malformed");
		return r;
	}
	r = accel_detect(cfg->accel, &a->accel, a->accel_why, sizeof(a->accel_why));
	if (r < 0) {
		snprintf(err, err_len, "accel kvm requested but not usable: %s", a->accel_why);
		return r;
	}
	r = qemu_probe(a);
	if (r < 0) {
		snprintf(err, err_len, "cannot run %s -version: is QEMU installed? (make deps)",
			 cfg->qemu);
		return r;
	}
	r = guest_image_load(cfg->image_dir, &a->image);
	if (r < 0) {
		snprintf(err, err_len, "no guest image in %s (%s): run make guest", cfg->image_dir,
			 r == -ENOENT ? "missing" : "malformed image.json");
		return r;
	}
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/artifacts", cfg->data_dir);
	r = mkdir_parents(cfg->data_dir, 0755);
	if (r == 0)
		r = artifacts_init(&a->store, store, cfg->max_artifact);
	if (r < 0) {
		snprintf(err, err_len, "cannot create data folder %s: %s", cfg->data_dir, strerror(-r));
		return r;
	}
	r = api_start(a, &a->api, &a->port);
	if (r < 0) {
		snprintf(err, err_len, "cannot listen on %s:%d: %s", cfg->listen_addr, cfg->port,
			 r == -EINVAL ? "bad address" : "address in use or not permitted");
		return r;
	}
	uv_signal_init(loop, &a->sig_int);
	uv_signal_init(loop, &a->sig_term);
	a->sig_int.data = a->sig_term.data = a;
	uv_signal_start(&a->sig_int, on_signal, SIGINT);
	uv_signal_start(&a->sig_term, on_signal, SIGTERM);

	char budget[256];
	cores_format(a->cores.owned, budget, sizeof(budget));
	log_info("agent_listening url=http://%s:%d accel=%s accel_reason=\"%s\" qemu=%s cores=%s "
		 "image_digest=%s",
		 cfg->listen_addr, a->port, accel_name(a->accel), a->accel_why, a->qemu_version, budget,
		 a->image.digest);
	if (cfg->ready_file) {
		FILE *f = fopen(cfg->ready_file, "we");
		if (f) {
			fprintf(f, "http://%s:%d\n", cfg->listen_addr, a->port);
			fclose(f);
		}
	}
	return 0;
}

static void on_closed_noop(uv_handle_t *h)
{
}

static void on_drain_check(uv_timer_t *t)
{
	struct agent *a = t->data;
	if (a->vms)
		return;
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	api_stop(a->api);
	a->api = NULL;
	uv_close((uv_handle_t *)&a->sig_int, on_closed_noop);
	uv_close((uv_handle_t *)&a->sig_term, on_closed_noop);
}

void agent_shutdown(struct agent *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	for (struct vm *vm = a->vms, *next; vm; vm = next) {
		next = vm->next;
		vm_stop(vm);
	}
	uv_timer_t *t = malloc(sizeof(*t));
	if (!t)
		return;
	uv_timer_init(a->loop, t);
	t->data = a;
	uv_timer_start(t, on_drain_check, 0, 50);
}

int agent_run(struct agent *a)
{
	return uv_run(a->loop, UV_RUN_DEFAULT);
}

void agent_free(struct agent *a)
{
	(void)a;
}
