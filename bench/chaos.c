/* ditto-bench chaos: a steady open-loop load of sync and async echo calls
 * (chaos_load.c) on a controller and an agent started here, while faults are
 * injected one at a time, the kinds in turn: QEMU killed, the agent killed
 * and restarted, the controller killed and restarted (each with the same
 * arguments and data), the guest frozen, and with --store postgres the
 * store's PostgreSQL server restarted (a fast stop, then a start), and with
 * --controllers 2 one of the two controllers killed, its leader failover
 * timed, and restarted after recovery (controller2). After
 * each fault it waits until a synchronous call succeeds again (the recovery
 * time), then a settle gap.
 * At the end every accepted async call must have completed once with its
 * own result, and every failed synchronous call must say why. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "chaos.h"
#include "platform.h"
#include "util.h"

#define TENANT "chaos"
#define HOST_ID "chaos"
/* echo's timeout: a synchronous call waits at most this plus the
 * controller's 30 s for a VM, and the client a little longer. */
#define ECHO_TIMEOUT_MS 10000
#define CALL_TIMEOUT_MS 60000L
/* Longest the first call (a VM boot) and a recovery may take. */
#define BOOT_TIMEOUT_MS 300000L
#define RECOVER_TIMEOUT_MS 300000L
/* How long async calls accepted by the end may take to finish. */
#define DRAIN_TIMEOUT_MS 300000L

struct chaos_opts {
	struct bench_opts b; /* build, data, accel, cores */
	int faults;
	enum chaos_kind kinds[CHAOS_KINDS];
	int n_kinds;
	double rate, async_share, freeze_s, settle_s;
	bool json;
	bool postgres;   /* --store postgres: the controller's store on a private server */
	int controllers; /* --controllers: on the one store, 1..BENCH_CONTROLLERS_MAX */
};

/* A controller's arguments, the same on every start (its port is kept). */
struct chaos_ctl {
	struct daemon_args args;
	const char *extra[10];
	char dir[512], id[16];
	char url[128]; /* http://127.0.0.1:PORT */
};

/* The daemons, started again with the same arguments after a kill. */
struct chaos_run {
	const struct chaos_opts *o;
	struct platform p;
	struct chaos_ctl ctl[BENCH_CONTROLLERS_MAX];
	struct daemon_args agent_args;
	const char *agent_extra[16 + 2 * BENCH_CONTROLLERS_MAX];
	char store_uri[700];
	char agent_dir[512], keyfile[600];
	int killed; /* controller2: the controller killed last */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ditto-bench chaos [--faults N]\n"
		"                         [--kinds qemu,agent,controller,freeze,postgres,controller2]\n"
		"                         [--store sqlite|postgres] [--controllers N]\n"
		"                         [--rate R] [--async-share F] [--freeze-s S] "
		"[--settle-s S]\n"
		"                         [--json] [--build DIR] [--data DIR] [--accel A] "
		"[--cores SPEC]\n"
		"A steady load of echo calls (R per second, default 20; a share F async, default\n"
		"0.5) while N faults of each kind (default 20) are injected one at a time: QEMU\n"
		"killed, the agent or the controller killed and restarted, the guest frozen for S\n"
		"seconds (default 5), PostgreSQL restarted (--store postgres: the controller's\n"
		"store on a private server), one of two controllers killed (controller2, with\n"
		"--store postgres --controllers 2: calls go round robin over the controllers, a\n"
		"refused sync call once to the other; the leader failover time is measured; the\n"
		"killed one restarts after recovery). After each, a settle gap (default 5 s).\n"
		"Exits 1 when\n"
		"an async call is lost or completed twice, or a failed call does not say why.\n");
}

/* ---- the platform ---- */

static int controller_start(struct chaos_run *r, int k)
{
	struct daemon_proc *d = platform_controller(&r->p, k);
	int e = daemon_proc_start_controller(d, &r->ctl[k].args);
	if (e < 0) {
		fprintf(stderr, "ditto-bench: cannot start controller %d (%s); see %s\n", k + 1,
			strerror(-e), d->log);
		return e;
	}
	r->ctl[k].args.port = daemon_proc_port(d);
	snprintf(r->ctl[k].url, sizeof(r->ctl[k].url), "%s", d->url);
	return 0;
}

static int agent_start(struct chaos_run *r)
{
	int e = daemon_proc_start_agent(&r->p.agent, &r->agent_args);
	if (e < 0) {
		fprintf(stderr, "ditto-bench: cannot start the agent (%s); see %s/agent.log\n",
			strerror(-e), r->agent_dir);
		return e;
	}
	r->agent_args.port = daemon_proc_port(&r->p.agent);
	return 0;
}

/* Waits until the controller lists our host up; reads its accelerator and
 * cores. */
static int host_wait_up(struct chaos_run *r, struct api_client *c)
{
	uint64_t deadline = time_now_us() + BENCH_START_MS * 1000ULL;
	r->p.cores = 0;
	while (time_now_us() < deadline) {
		json_t *hosts = NULL, *h;
		size_t i;
		int st = api_client_call(c, "GET", "/v1/hosts", NULL, 0, 10000, &hosts);
		json_array_foreach(st == 200 ? json_object_get(hosts, "hosts") : NULL, i, h)
		{
			const char *id = json_string_value(json_object_get(h, "id"));
			const char *state = json_string_value(json_object_get(h, "state"));
			const char *accel = json_string_value(json_object_get(h, "accel"));
			if (id && state && !strcmp(id, HOST_ID) && !strcmp(state, "up")) {
				r->p.cores = (int)json_integer_value(json_object_get(h, "cores"));
				snprintf(r->p.accel, sizeof(r->p.accel), "%s",
					 accel ? accel : "unknown");
			}
		}
		json_decref(hosts);
		if (r->p.cores > 0)
			return 0;
		bench_sleep_ms(100);
	}
	fprintf(stderr, "ditto-bench: host %s did not come up\n", HOST_ID);
	return -ETIMEDOUT;
}

/* Fills in controller k's arguments: it keeps every record (the end looks
 * at each again); on PostgreSQL as ctl-K+1 advertising a port picked now. */
static int ctl_args_init(struct chaos_run *r, int k)
{
	const struct bench_opts *b = &r->o->b;
	struct chaos_ctl *c = &r->ctl[k];
	snprintf(c->dir, sizeof(c->dir), k ? "%s/controller-%d" : "%s/controller", b->data, k + 1);
	snprintf(c->id, sizeof(c->id), "ctl-%d", k + 1);
	int port = r->o->postgres ? platform_free_port() : 0;
	if (port < 0)
		return port;
	snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d", port);
	const char *extra[] = { "--retain", "0",   "--store",     r->store_uri,
				"--id",     c->id, "--advertise", c->url };
	memcpy(c->extra, extra, sizeof(extra));
	c->extra[r->o->postgres ? 8 : 2] = NULL;
	c->args = (struct daemon_args){
		.build_dir = b->build,
		.data_dir = c->dir,
		.port = port,
		.extra = c->extra,
		.timeout_ms = BENCH_START_MS,
	};
	return 0;
}

/* Fills in the agent's arguments but the controllers: it reports to them
 * with the admin key. */
static void args_init(struct chaos_run *r)
{
	const struct bench_opts *b = &r->o->b;
	snprintf(r->agent_dir, sizeof(r->agent_dir), "%s/agent", b->data);
	snprintf(r->keyfile, sizeof(r->keyfile), "%s/controller/admin.key", b->data);
	r->agent_args = (struct daemon_args){ .build_dir = b->build,
					      .data_dir = r->agent_dir,
					      .extra = r->agent_extra,
					      .timeout_ms = BENCH_START_MS };
}

static void agent_args_fill(struct chaos_run *r)
{
	const struct bench_opts *b = &r->o->b;
	const char **a = r->agent_extra;
	int n = 0;
	for (int k = 0; k < r->p.n_controllers; k++) {
		a[n++] = "--controller";
		a[n++] = r->ctl[k].url;
	}
	a[n++] = "--controller-key-file";
	a[n++] = r->keyfile;
	a[n++] = "--host-id";
	a[n++] = HOST_ID;
	a[n++] = "--heartbeat-ms";
	a[n++] = "500";
	if (b->accel) {
		a[n++] = "--accel";
		a[n++] = b->accel;
	}
	if (b->cores) {
		a[n++] = "--cores";
		a[n++] = b->cores;
	}
	a[n] = NULL;
}

/* An admin client to controller k. Returns 0 or -errno. */
static int admin_client(struct chaos_run *r, int k, struct api_client *c)
{
	int e = api_client_init(c, r->ctl[k].url);
	return e < 0 ? e : api_client_set_bearer(c, r->p.admin_key);
}

/* Waits until every controller but the first lists our host up (the first
 * is waited on with the platform's own client). */
static int hosts_wait_up(struct chaos_run *r)
{
	for (int k = 1; k < r->p.n_controllers; k++) {
		struct api_client c = { 0 };
		int e = admin_client(r, k, &c);
		if (e == 0)
			e = host_wait_up(r, &c);
		api_client_free(&c);
		if (e < 0)
			return e;
	}
	return 0;
}

/* Starts both daemons, the tenant with echo, and makes the first call. */
static int platform_up(struct chaos_run *r)
{
	args_init(r);
	char key[128];
	int e = r->o->postgres ? platform_postgres_start(&r->p, r->store_uri, sizeof(r->store_uri))
			       : 0;
	if (e < 0)
		return e;
	for (int k = 0; k < r->o->controllers; k++) {
		r->p.n_controllers = k + 1;
		if ((e = ctl_args_init(r, k)) < 0 || (e = controller_start(r, k)) < 0)
			return e;
	}
	snprintf(r->p.url, sizeof(r->p.url), "%s", r->p.controller.url);
	agent_args_fill(r);
	if ((e = agent_start(r)) < 0)
		return e;
	if ((e = file_read_text(r->keyfile, key, sizeof(key))) <= 0) {
		fprintf(stderr, "ditto-bench: cannot read %s\n", r->keyfile);
		return e < 0 ? e : -ENODATA;
	}
	snprintf(r->p.admin_key, sizeof(r->p.admin_key), "%s", key);
	if ((e = hosts_wait_up(r)) < 0 || (e = api_client_init(&r->p.admin, r->p.url)) < 0 ||
	    (e = api_client_set_bearer(&r->p.admin, key)) < 0 ||
	    (e = api_client_init(&r->p.tenant, r->p.url)) < 0 ||
	    (e = host_wait_up(r, &r->p.admin)) < 0 ||
	    (e = platform_tenant_create(&r->p, TENANT)) < 0)
		return e;
	int w = r->p.cores < 2 ? r->p.cores : 2;
	char scaling[96];
	snprintf(scaling, sizeof(scaling), "{\"min\":%d,\"max\":%d,\"policy\":\"fixed:%d\"}", w, w,
		 w);
	void *art;
	size_t len;
	if ((e = platform_tenant_scaling(&r->p, TENANT, scaling)) < 0 ||
	    (e = platform_echo_read(&r->o->b, &art, &len)) < 0)
		return e;
	char query[96];
	snprintf(query, sizeof(query), "mode=persistent&max_concurrency=1000&timeout=%d",
		 ECHO_TIMEOUT_MS);
	e = platform_deploy(&r->p, "echo", art, len, query);
	free(art);
	if (e < 0)
		return e;
	json_t *reply = NULL;
	int st = api_client_call(&r->p.tenant, "POST", "/v1/functions/echo/invoke", "{}", 2,
				 BOOT_TIMEOUT_MS, &reply);
	json_decref(reply);
	if (st != 200) {
		fprintf(stderr, "ditto-bench: the first call failed (%d)\n", st);
		return -EIO;
	}
	return 0;
}

/* The tenant VM's QEMU process as the agent names it now, or 0. */
static pid_t qemu_pid(struct chaos_run *r)
{
	char path[600], token[128];
	snprintf(path, sizeof(path), "%s/agent.token", r->agent_dir);
	struct api_client c = { 0 };
	pid_t pid = 0;
	json_t *vm = NULL;
	if (file_read_text(path, token, sizeof(token)) > 0 &&
	    api_client_init(&c, r->p.agent.url) == 0 && api_client_set_bearer(&c, token) == 0 &&
	    api_client_call(&c, "GET", "/v1/vms/" TENANT, NULL, 0, 10000, &vm) == 200) {
		const char *state = json_string_value(json_object_get(vm, "state"));
		if (state && !strcmp(state, "ready"))
			pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	}
	json_decref(vm);
	api_client_free(&c);
	return pid;
}

/* Waits for the VM to be up to have a QEMU to hit. */
static pid_t qemu_wait(struct chaos_run *r)
{
	uint64_t deadline = time_now_us() + BOOT_TIMEOUT_MS * 1000ULL;
	pid_t pid;
	while (!(pid = qemu_pid(r)) && time_now_us() < deadline)
		bench_sleep_ms(200);
	if (!pid)
		fprintf(stderr, "ditto-bench: the tenant's VM is not running\n");
	return pid;
}

/* ---- faults ---- */

/* Restarts the store's server: a fast stop (clients disconnected), then a
 * start on the same folder. */
static int postgres_restart(struct chaos_run *r)
{
	int e = pg_local_stop(r->p.pg.pid, 10000);
	if (e == 0)
		waitpid(r->p.pg.pid, NULL, 0);
	r->p.pg.pid = 0;
	if (e == 0 && (e = pg_local_start(&r->p.pg, BENCH_START_MS)) < 0)
		fprintf(stderr, "ditto-bench: PostgreSQL did not start again: %s\n", r->p.pg.error);
	return e;
}

/* Whether controllers (GET /v1/controllers) names a live leader other than
 * id. */
static bool other_leader(json_t *controllers, const char *id)
{
	json_t *c;
	size_t i;
	json_array_foreach(json_object_get(controllers, "controllers"), i, c)
	{
		const char *cid = json_string_value(json_object_get(c, "id"));
		if (cid && strcmp(cid, id) && json_is_true(json_object_get(c, "live")) &&
		    json_is_true(json_object_get(c, "leader")))
			return true;
	}
	return false;
}

/* Kills one of the two controllers (each in turn) and waits until the
 * other names a live leader other than it, polling every 50 ms; *ret_ms
 * gets how long from the kill that took. Returns 0 or -errno. */
static int controller2_kill(struct chaos_run *r, uint64_t *ret_us, double *ret_ms)
{
	int k = r->killed = (r->killed + 1) % 2, s = 1 - k;
	struct api_client c = { 0 };
	int e = admin_client(r, s, &c);
	if (e < 0)
		return e;
	*ret_us = time_now_us();
	daemon_proc_stop(platform_controller(&r->p, k), SIGKILL, 10000);
	uint64_t deadline = *ret_us + RECOVER_TIMEOUT_MS * 1000ULL;
	e = -ETIMEDOUT;
	while (e < 0 && time_now_us() < deadline) {
		json_t *j = NULL;
		if (api_client_call(&c, "GET", "/v1/controllers", NULL, 0, 10000, &j) == 200 &&
		    other_leader(j, r->ctl[k].id))
			e = 0;
		json_decref(j);
		if (e < 0)
			bench_sleep_ms(50);
	}
	*ret_ms = (double)(time_now_us() - *ret_us) / 1000;
	api_client_free(&c);
	if (e < 0)
		fprintf(stderr, "ditto-bench: %s names no other leader after %s was killed\n",
			r->ctl[s].id, r->ctl[k].id);
	return e;
}

/* Injects one fault of kind k; *ret_us gets when it struck. */
static int inject(struct chaos_run *r, enum chaos_kind k, uint64_t *ret_us)
{
	pid_t pid = 0;
	if ((k == CHAOS_QEMU || k == CHAOS_FREEZE) && !(pid = qemu_wait(r)))
		return -ESRCH;
	*ret_us = time_now_us();
	switch (k) {
	case CHAOS_QEMU: return kill(pid, SIGKILL) < 0 ? -errno : 0;
	case CHAOS_FREEZE:
		if (kill(pid, SIGSTOP) < 0)
			return -errno;
		/* The fault is the freeze itself: its length is the point. */
		bench_sleep_ms((long)(r->o->freeze_s * 1000));
		return kill(pid, SIGCONT) < 0 ? -errno : 0;
	case CHAOS_AGENT: daemon_proc_stop(&r->p.agent, SIGKILL, 10000); return agent_start(r);
	case CHAOS_POSTGRES: return postgres_restart(r);
	default: daemon_proc_stop(&r->p.controller, SIGKILL, 10000); return controller_start(r, 0);
	}
}

/* Runs the faults in turn. Returns 0, or -errno when the platform did not
 * come back. */
static int run_faults(struct chaos_run *r, struct chaos_load *l, struct chaos_report *rep)
{
	const struct chaos_opts *o = r->o;
	int total = o->faults * o->n_kinds;
	for (int i = 0; i < total; i++) {
		enum chaos_kind k = o->kinds[i % o->n_kinds];
		struct chaos_tally *t = &rep->tally[k];
		uint64_t at, ok;
		double failover_ms = 0;
		chaos_load_window(l, k);
		int e = k == CHAOS_CONTROLLER2 ? controller2_kill(r, &at, &failover_ms)
					       : inject(r, k, &at);
		if (e < 0) {
			fprintf(stderr, "ditto-bench: fault %d (%s) failed: %s\n", i + 1,
				chaos_kind_name(k), strerror(-e));
			return e;
		}
		t->faults++;
		if (chaos_load_wait_ok(l, at, at + RECOVER_TIMEOUT_MS * 1000ULL, &ok) < 0) {
			fprintf(stderr,
				"ditto-bench: no call succeeded %ld s after fault %d (%s)\n",
				RECOVER_TIMEOUT_MS / 1000, i + 1, chaos_kind_name(k));
			return -ETIMEDOUT;
		}
		if (chaos_tally_recovered(t, (double)(ok - at) / 1000) < 0 ||
		    (k == CHAOS_CONTROLLER2 && chaos_tally_failover(t, failover_ms) < 0))
			return -ENOMEM;
		/* The killed controller comes back once the platform has. */
		if (k == CHAOS_CONTROLLER2 && (e = controller_start(r, r->killed)) < 0)
			return e;
		if (!o->json)
			fprintf(stderr, "ditto-bench: fault %d/%d %s: recovered in %.0f ms\n",
				i + 1, total, chaos_kind_name(k), (double)(ok - at) / 1000);
		bench_sleep_ms((long)(o->settle_s * 1000));
	}
	return 0;
}

/* ---- options ---- */

static bool number(const char *s, double lo, double hi, double *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= lo && v <= hi))
		return false;
	*ret = v;
	return true;
}

/* Parses argv (argv[0] is "chaos"). Returns 0, 1 after --help, or 2 after
 * one line on stderr. */
static int opts_parse(int argc, char **argv, struct chaos_opts *o)
{
	static const struct option opts[] = {
		{ "faults", required_argument, NULL, 'n' },
		{ "kinds", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "async-share", required_argument, NULL, 's' },
		{ "freeze-s", required_argument, NULL, 'f' },
		{ "settle-s", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "build", required_argument, NULL, 'b' },
		{ "data", required_argument, NULL, 'd' },
		{ "accel", required_argument, NULL, 'a' },
		{ "cores", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 'P' },
		{ "controllers", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double faults = 20, n = 1;
	const char *kinds = "qemu,agent,controller,freeze";
	int c;
	bool ok = true;
	optind = 1;
	while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': ok = number(optarg, 1, 1000, &faults) && faults == (int)faults; break;
		case 'k': kinds = optarg; break;
		case 'r': ok = number(optarg, 0.1, 1000, &o->rate); break;
		case 's': ok = number(optarg, 0, 1, &o->async_share); break;
		case 'f': ok = number(optarg, 0.1, 600, &o->freeze_s); break;
		case 'S': ok = number(optarg, 0, 600, &o->settle_s); break;
		case 'j': o->json = true; break;
		case 'b': o->b.build = optarg; break;
		case 'd': o->b.data = optarg; break;
		case 'a': o->b.accel = optarg; break;
		case 'c': o->b.cores = optarg; break;
		case 'P':
			ok = !strcmp(optarg, "sqlite") || !strcmp(optarg, "postgres");
			o->postgres = ok && !strcmp(optarg, "postgres");
			break;
		case 'N': ok = number(optarg, 1, BENCH_CONTROLLERS_MAX, &n) && n == (int)n; break;
		case 'h': usage(stdout); return 1;
		default: return 2;
		}
	}
	if (!ok) {
		fprintf(stderr,
			"ditto-bench: --faults must be 1..1000, --rate 0.1..1000, "
			"--async-share 0..1, --freeze-s 0.1..600, --settle-s 0..600, "
			"--store sqlite or postgres, --controllers 1..%d\n",
			BENCH_CONTROLLERS_MAX);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-bench: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (chaos_kinds_parse(kinds, o->kinds, &o->n_kinds) < 0) {
		fprintf(stderr,
			"ditto-bench: --kinds takes qemu, agent, controller, freeze, "
			"postgres and controller2, each at most once, separated by commas\n");
		return 2;
	}
	o->controllers = (int)n;
	char err[160];
	if (chaos_kinds_check(o->kinds, o->n_kinds, o->postgres, o->controllers, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "ditto-bench: %s\n", err);
		return 2;
	}
	o->faults = (int)faults;
	return 0;
}

/* ---- the run ---- */

static void report_out(const struct chaos_opts *o, struct chaos_report *rep)
{
	if (!o->json) {
		chaos_report_print(rep);
		return;
	}
	json_t *j = chaos_report_json(rep);
	char *text = json_dumps(j, JSON_INDENT(2));
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(j);
}

/* Starts the load, round robin over every controller. */
static int load_start(struct chaos_run *r, struct chaos_report *rep, struct chaos_load **ret)
{
	const char *urls[BENCH_CONTROLLERS_MAX];
	for (int k = 0; k < r->p.n_controllers; k++)
		urls[k] = r->ctl[k].url;
	return chaos_load_start(urls, r->p.n_controllers, r->p.tenant_key, r->o->rate,
				r->o->async_share, CALL_TIMEOUT_MS, rep, ret);
}

static int run(struct chaos_run *r, struct chaos_report *rep)
{
	const struct chaos_opts *o = r->o;
	struct chaos_load *l = NULL;
	if (!o->json)
		fprintf(stderr, "ditto-bench: data in %s; starting the platform\n", o->b.data);
	int e = platform_up(r);
	uint64_t t0 = time_now_us();
	if (e == 0)
		e = load_start(r, rep, &l);
	/* A little load before the first fault, as a baseline. */
	uint64_t ok;
	if (e == 0 && chaos_load_wait_ok(l, time_now_us(), t0 + BOOT_TIMEOUT_MS * 1000ULL, &ok) < 0)
		e = -ETIMEDOUT;
	if (e == 0) {
		bench_sleep_ms((long)(o->settle_s * 1000));
		e = run_faults(r, l, rep);
	}
	if (l) {
		if (!o->json)
			fprintf(stderr, "ditto-bench: load stopped; waiting for async calls\n");
		int f = chaos_load_finish(l, time_now_us() + DRAIN_TIMEOUT_MS * 1000ULL);
		e = e < 0 ? e : f;
	}
	rep->elapsed_s = (double)(time_now_us() - t0) / 1e6;
	rep->accel = r->p.accel[0] ? r->p.accel : "unknown";
	chaos_load_free(l);
	return e;
}

int bench_chaos(int argc, char **argv)
{
	struct chaos_opts o = { .b = { .build = "build", .runtime = "binary" },
				.rate = 20,
				.async_share = 0.5,
				.freeze_s = 5,
				.settle_s = 5 };
	int e = opts_parse(argc, argv, &o);
	if (e)
		return e == 1 ? 0 : 2;
	char tmp[] = "/tmp/ditto-chaos.XXXXXX";
	if (!o.b.data && !(o.b.data = mkdtemp(tmp))) {
		fprintf(stderr, "ditto-bench: cannot create a data folder: %s\n", strerror(errno));
		return 1;
	}
	struct chaos_run r = { .o = &o, .killed = 1 };
	struct chaos_report rep = { .faults_per_kind = o.faults,
				    .rate = o.rate,
				    .async_share = o.async_share,
				    .freeze_s = o.freeze_s,
				    .settle_s = o.settle_s,
				    .n_kinds = o.n_kinds };
	memcpy(rep.kinds, o.kinds, sizeof(rep.kinds));
	e = run(&r, &rep);
	bool clean = chaos_tally_clean(&rep.before);
	for (int i = 0; i < o.n_kinds; i++)
		clean = clean && chaos_tally_clean(&rep.tally[o.kinds[i]]);
	if (e == 0 || rep.before.sync_sent)
		report_out(&o, &rep);
	platform_stop(&r.p);
	for (int i = 0; i < CHAOS_KINDS; i++)
		chaos_tally_free(&rep.tally[i]);
	chaos_tally_free(&rep.before);
	return e == 0 && clean ? 0 : 1;
}
