/* ditto-bench invoke's platform: starting and stopping the controller and
 * the agent (lib/daemon_proc), the tenant, its key and worker vCPUs, the echo
 * function and the call that boots the tenant VM. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "platform.h"
#include "util.h"

#define TENANT "bench"
#define HOST_ID "bench"
/* The first call boots the VM, which takes seconds under TCG. */
#define BOOT_TIMEOUT_MS 300000L

/* Waits until the controller c lists a host "up" (ours when we started it)
 * and reads its accelerator and cores. */
static int wait_host_up(struct platform *p, struct api_client *c, long timeout_ms)
{
	long long deadline = (long long)time_now_us() + timeout_ms * 1000LL;
	p->cores = 0;
	for (;;) {
		json_t *reply = NULL, *h;
		size_t i;
		int st = api_client_call(c, "GET", "/v1/hosts", NULL, 0, 10000, &reply);
		json_array_foreach(st == 200 ? json_object_get(reply, "hosts") : NULL, i, h)
		{
			const char *id = json_string_value(json_object_get(h, "id"));
			const char *state = json_string_value(json_object_get(h, "state"));
			if (!state || strcmp(state, "up") != 0 ||
			    (p->agent.pid > 0 && (!id || strcmp(id, HOST_ID) != 0)))
				continue;
			int cores = (int)json_integer_value(json_object_get(h, "cores"));
			/* A tenant's VM lives on one host: the largest bounds its size. */
			if (cores > p->cores) {
				p->cores = cores;
				const char *accel = json_string_value(json_object_get(h, "accel"));
				snprintf(p->accel, sizeof(p->accel), "%s",
					 accel ? accel : "unknown");
			}
		}
		json_decref(reply);
		if (p->cores > 0)
			return 0;
		if ((long long)time_now_us() > deadline)
			return -ETIMEDOUT;
		/* Hosts come up on a heartbeat; nothing to wait on but the list. */
		bench_sleep_ms(50);
	}
}

/* Connects to an agent started here (its token is in its data folder) and
 * reads its QEMU version; elsewhere the version stays unknown. */
static void agent_connect(struct platform *p)
{
	snprintf(p->qemu, sizeof(p->qemu), "unknown");
	char path[512], token[128];
	snprintf(path, sizeof(path), "%s/agent.token", p->agent.data_dir);
	if (p->agent.pid <= 0 || file_read_text(path, token, sizeof(token)) <= 0 ||
	    api_client_init(&p->agent_api, p->agent.url) < 0 ||
	    api_client_set_bearer(&p->agent_api, token) < 0)
		return;
	json_t *st = NULL;
	if (api_client_call(&p->agent_api, "GET", "/v1/status", NULL, 0, 10000, &st) == 200) {
		const char *q = json_string_value(json_object_get(st, "qemu"));
		if (q)
			snprintf(p->qemu, sizeof(p->qemu), "%s", q);
	}
	json_decref(st);
}

/* The tenant VM's QEMU process, from our agent. */
static void read_qemu_pid(struct platform *p)
{
	json_t *vm = NULL;
	if (p->agent_api.curl &&
	    api_client_call(&p->agent_api, "GET", "/v1/vms/" TENANT, NULL, 0, 10000, &vm) == 200)
		p->qemu_pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void controller_stop(struct daemon_proc *c)
{
	if (c->pid > 0 && daemon_proc_stop(c, SIGTERM, 20000) != 0)
		fprintf(stderr, "ditto-bench: a controller did not stop cleanly; see %s\n", c->log);
}

void platform_stop(struct platform *p)
{
	api_client_free(&p->admin);
	api_client_free(&p->tenant);
	api_client_free(&p->agent_api);
	/* The agent first: on SIGTERM it stops its VMs. */
	if (p->agent.pid > 0 && daemon_proc_stop(&p->agent, SIGTERM, 30000) != 0)
		fprintf(stderr, "ditto-bench: the agent did not stop cleanly; see %s/agent.log\n",
			p->agent.data_dir);
	/* Peers first, then the first (also when another module started it and
	 * left n_controllers at 0). */
	for (int k = p->n_controllers - 1; k >= 1; k--)
		controller_stop(&p->peers[k - 1]);
	controller_stop(&p->controller);
	if (p->pg.pid > 0 && pg_local_stop(p->pg.pid, 20000) < 0)
		fprintf(stderr, "ditto-bench: PostgreSQL did not stop; see %s/postgres.log\n",
			p->pg.dir);
	if (p->pg.pid > 0)
		waitpid(p->pg.pid, NULL, 0);
	p->pg.pid = 0;
	if (p->pg.dir[0])
		nftw(p->pg.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	p->pg.dir[0] = '\0';
}

struct daemon_proc *platform_controller(struct platform *p, int k)
{
	return k == 0 ? &p->controller : &p->peers[k - 1];
}

int platform_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
				getsockname(fd, (struct sockaddr *)&a, &len) < 0
			? -errno
			: ntohs(a.sin_port);
	close(fd);
	return r;
}

int platform_postgres_start(struct platform *p, char *uri, size_t size)
{
	char dir[] = "/tmp/ditto-bench-pg.XXXXXX", conninfo[600];
	/* The server may run as another user (root starts it as postgres), who
	 * may not pass through DATA's folders: its own folder is under /tmp,
	 * removed at the end. */
	if (!mkdtemp(dir)) {
		fprintf(stderr, "ditto-bench: cannot create a folder for PostgreSQL: %s\n",
			strerror(errno));
		return -errno;
	}
	int r = pg_local_init(&p->pg, dir, PG_LOCAL_FAST);
	if (r == 0)
		r = pg_local_start(&p->pg, BENCH_START_MS);
	if (r < 0 && !p->pg.dir[0])
		rmdir(dir);
	if (r < 0) {
		fprintf(stderr, "ditto-bench: cannot start PostgreSQL: %s\n", p->pg.error);
		return r;
	}
	if ((r = pg_local_conninfo(p->pg.dir, "ditto", conninfo, sizeof(conninfo))) < 0 ||
	    snprintf(uri, size, "postgres:%s", conninfo) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* Starts controller k: BUILD/ditto-controller with its data in
 * DATA/controller (the first) or DATA/controller-K+1, on store uri (NULL: its
 * default SQLite file) as ctl-K+1 advertising its own port. */
static int controller_start(struct platform *p, int k, const char *uri)
{
	const struct bench_opts *o = p->o;
	struct daemon_proc *c = platform_controller(p, k);
	char dir[512], id[16], addr[64];
	snprintf(dir, sizeof(dir), k ? "%s/controller-%d" : "%s/controller", o->data, k + 1);
	snprintf(id, sizeof(id), "ctl-%d", k + 1);
	int port = uri ? platform_free_port() : 0;
	if (port < 0)
		return port;
	snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", port);
	const char *args[12] = { "--log-level", "warn" };
	int n = 2;
	if (o->agent_link) {
		args[n++] = "--agent-link";
		args[n++] = o->agent_link;
	}
	if (uri) {
		const char *more[] = { "--store", uri, "--id", id, "--advertise", addr };
		memcpy(&args[n], more, sizeof(more));
		n += 6;
	}
	struct daemon_args a = { .build_dir = o->build,
				 .data_dir = dir,
				 .port = port,
				 .extra = args,
				 .timeout_ms = BENCH_START_MS };
	int r = daemon_proc_start_controller(c, &a);
	if (r < 0)
		fprintf(stderr, "ditto-bench: cannot start %s/ditto-controller (%s); see %s\n",
			o->build, strerror(-r), c->log);
	return r;
}

/* Starts the controllers (on a private PostgreSQL server when asked) and
 * reads the first one's admin key into key and that file's path into
 * keyfile. */
static int controllers_start(struct platform *p, char key[128], char keyfile[600])
{
	const struct bench_opts *o = p->o;
	char uri[700];
	int r;
	if (bench_store_is_postgres(o) && (r = platform_postgres_start(p, uri, sizeof(uri))) < 0)
		return r;
	/* Subcommands that do not set it (replay, soak, burst) get one. */
	int n = o->controllers > 0 ? o->controllers : 1;
	for (int k = 0; k < n; k++) {
		p->n_controllers = k + 1;
		if ((r = controller_start(p, k, bench_store_is_postgres(o) ? uri : NULL)) < 0)
			return r;
	}
	snprintf(p->url, sizeof(p->url), "%s", p->controller.url);
	snprintf(keyfile, 600, "%s/admin.key", p->controller.data_dir);
	if ((r = file_read_text(keyfile, key, 128)) <= 0) {
		fprintf(stderr, "ditto-bench: cannot read %s: %s\n", keyfile,
			strerror(r ? -r : ENODATA));
		return r ? r : -ENODATA;
	}
	return 0;
}

/* Starts the agent, reporting to every controller started here. */
static int agent_start(struct platform *p, const char *keyfile)
{
	const char *args[2 * BENCH_CONTROLLERS_MAX + 8];
	int n = 0;
	for (int k = 0; k < p->n_controllers; k++) {
		args[n++] = "--controller";
		args[n++] = platform_controller(p, k)->url;
	}
	const char *more[] = { "--controller-key-file", keyfile, "--host-id", HOST_ID,
			       "--heartbeat-ms",        "500",   NULL };
	memcpy(&args[n], more, sizeof(more));
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/agent", p->o->data);
	return bench_agent_start(&p->agent, p->o, dir, args);
}

/* Waits until every controller started here lists our host up. */
static int hosts_wait_up(struct platform *p, const char *key)
{
	for (int k = p->n_controllers - 1; k >= 0; k--) {
		struct api_client c = { 0 };
		int r = api_client_init(&c, platform_controller(p, k)->url);
		if (r == 0)
			r = api_client_set_bearer(&c, key);
		if (r == 0 && (r = wait_host_up(p, &c, BENCH_START_MS)) < 0)
			fprintf(stderr, "ditto-bench: no host came up at %s\n",
				platform_controller(p, k)->url);
		api_client_free(&c);
		if (r < 0)
			return r;
	}
	return 0;
}

int platform_start(struct platform *p, const struct bench_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	char key[128];
	int r;
	if (o->url) {
		p->n_controllers = 1;
		snprintf(p->url, sizeof(p->url), "%s", o->url);
		snprintf(key, sizeof(key), "%s", o->key);
	} else {
		char path[600];
		if ((r = controllers_start(p, key, path)) < 0 || (r = agent_start(p, path)) < 0 ||
		    (r = hosts_wait_up(p, key)) < 0)
			return r;
	}
	snprintf(p->admin_key, sizeof(p->admin_key), "%s", key);
	if ((r = api_client_init(&p->admin, p->url)) < 0 ||
	    (r = api_client_set_bearer(&p->admin, key)) < 0 ||
	    (r = api_client_init(&p->tenant, p->url)) < 0)
		return r;
	if ((r = wait_host_up(p, &p->admin, BENCH_START_MS)) < 0) {
		fprintf(stderr, "ditto-bench: no host came up at %s\n", p->url);
		return r;
	}
	agent_connect(p);
	return 0;
}

int platform_tenant_create(struct platform *p, const char *name)
{
	json_t *reply = NULL;
	char body[128], path[128];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	int st = api_client_call(&p->admin, "POST", "/v1/tenants", body, strlen(body), 10000,
				 &reply);
	if (st == 409) {
		json_decref(reply);
		reply = NULL;
		snprintf(path, sizeof(path), "/v1/tenants/%s/keys", name);
		st = api_client_call(&p->admin, "POST", path, NULL, 0, 10000, &reply);
	}
	const char *key = json_string_value(json_object_get(reply, "key"));
	if (st != 201 || !key) {
		fprintf(stderr, "ditto-bench: cannot create tenant %s (%d)\n", name, st);
		json_decref(reply);
		return -EIO;
	}
	snprintf(p->tenant_key, sizeof(p->tenant_key), "%s", key);
	json_decref(reply);
	return api_client_set_bearer(&p->tenant, p->tenant_key);
}

int platform_tenant_scaling(struct platform *p, const char *name, const char *scaling)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", name);
	json_t *reply = NULL;
	int st = api_client_call(&p->admin, "PUT", path, scaling, strlen(scaling), 10000, &reply);
	if (st != 200) {
		json_t *e = json_object_get(reply, "error");
		const char *msg = json_string_value(json_object_get(e, "message"));
		fprintf(stderr, "ditto-bench: cannot set %s's scaling to %s (%d%s%s)\n", name,
			scaling, st, msg ? ": " : "", msg ? msg : "");
		json_decref(reply);
		return -EIO;
	}
	json_decref(reply);
	return 0;
}

/* Creates the tenant, fixes its worker vCPUs and deploys echo. */
int platform_tenant_setup(struct platform *p)
{
	const struct bench_opts *o = p->o;
	int r = platform_tenant_create(p, TENANT);
	if (r < 0)
		return r;
	p->workers = o->concurrency < p->cores ? o->concurrency : p->cores;
	char scaling[160];
	/* Room for every client's call in the tenant's limit too (100 unless
	 * set), or calls past it would wait in the controller. */
	int conc = o->concurrency > 100 ? o->concurrency : 100;
	snprintf(scaling, sizeof(scaling),
		 "{\"min\":%d,\"max\":%d,\"policy\":\"fixed:%d\",\"concurrency\":%d}", p->workers,
		 p->workers, p->workers, conc);
	if ((r = platform_tenant_scaling(p, TENANT, scaling)) < 0)
		return r;

	void *art;
	size_t len;
	if ((r = platform_echo_read(o, &art, &len)) < 0)
		return r;
	char query[128];
	platform_echo_query(o, query, sizeof(query));
	r = platform_deploy(p, "echo", art, len, query);
	free(art);
	return r;
}

int platform_echo_read(const struct bench_opts *o, void **ret, size_t *ret_len)
{
	if (strcmp(o->runtime, "binary") == 0)
		return bench_read_function(o, "echo", ret, ret_len);
	const char *src = strcmp(o->runtime, "python3") == 0 ? "python/echo.py" : "nodejs/echo.js";
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", o->build, src);
	if (access(path, R_OK) < 0)
		snprintf(path, sizeof(path), "functions/%s", src);
	int r = file_read_all(path, ret, ret_len);
	if (r < 0)
		fprintf(stderr, "ditto-bench: cannot read %s: %s\n", path, strerror(-r));
	return r;
}

void platform_echo_query(const struct bench_opts *o, char *query, size_t size)
{
	/* Every client may have a call in flight: the default limit would
	 * answer the surplus with 429. */
	snprintf(query, size, "mode=persistent&max_concurrency=%d&runtime=%s", o->concurrency,
		 o->runtime);
}

/* The first call boots the VM; then waits until the VM has its worker vCPUs. */
int platform_first_call(struct platform *p)
{
	const char *body = "{\"first\":true}";
	json_t *reply = NULL;
	int st = api_client_call(&p->tenant, "POST", "/v1/functions/echo/invoke", body,
				 strlen(body), BOOT_TIMEOUT_MS, &reply);
	bool echoed = json_is_true(json_object_get(reply, "first"));
	const char *msg = json_string_value(
		json_object_get(json_object_get(reply, "error"), "message"));
	if (st != 200 || !echoed) {
		fprintf(stderr, "ditto-bench: the first call failed (%d%s%s)\n", st,
			msg ? ": " : "", msg ? msg : "");
		json_decref(reply);
		return -EIO;
	}
	json_decref(reply);
	long long deadline = (long long)time_now_us() + 120000LL * 1000LL;
	for (;;) {
		reply = NULL;
		st = api_client_call(&p->admin, "GET", "/v1/tenants/" TENANT, NULL, 0, 10000,
				     &reply);
		int workers = (int)json_integer_value(
			json_object_get(json_object_get(reply, "vm"), "workers"));
		json_decref(reply);
		if (st == 200 && workers == p->workers) {
			read_qemu_pid(p);
			return 0;
		}
		if ((long long)time_now_us() > deadline) {
			fprintf(stderr, "ditto-bench: the VM has %d worker vCPUs, not %d\n",
				workers, p->workers);
			return -ETIMEDOUT;
		}
		bench_sleep_ms(50);
	}
}

int platform_tenant_read(struct api_client *c, const char *name, struct tenant_state *ret)
{
	memset(ret, 0, sizeof(*ret));
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	json_t *reply = NULL, *vm;
	int st = api_client_call(c, "GET", path, NULL, 0, 10000, &reply);
	if (st != 200) {
		json_decref(reply);
		return st < 0 ? st : st ? st : -EIO;
	}
	json_t *vms = json_object_get(reply, "vms");
	size_t i;
	if (json_is_array(vms)) {
		json_array_foreach(vms, i, vm)
		{
			ret->workers += (int)json_integer_value(json_object_get(vm, "workers"));
			ret->vms += json_is_string(json_object_get(vm, "host"));
		}
	} else if ((vm = json_object_get(reply, "vm")) && json_is_object(vm)) {
		ret->workers = (int)json_integer_value(json_object_get(vm, "workers"));
		ret->vms = json_is_string(json_object_get(vm, "host"));
	}
	json_t *v = json_object_get(reply, "vcpu_s");
	json_t *alloc = json_object_get(v, "allocated"), *busy = json_object_get(v, "busy");
	if (json_is_number(alloc) && json_is_number(busy)) {
		ret->has_vcpu_s = true;
		ret->vcpu_s_allocated = json_number_value(alloc);
		ret->vcpu_s_busy = json_number_value(busy);
	}
	json_decref(reply);
	return 0;
}

int platform_deploy(struct platform *p, const char *name, const void *art, size_t len,
		    const char *query)
{
	char target[512];
	snprintf(target, sizeof(target), "/v1/functions/%s?%s", name, query);
	json_t *reply = NULL;
	int st = api_client_call(&p->tenant, "PUT", target, art, len, 60000, &reply);
	if (st != 201) {
		const char *msg = json_string_value(
			json_object_get(json_object_get(reply, "error"), "message"));
		fprintf(stderr, "ditto-bench: cannot deploy %s (%d%s%s)\n", name, st,
			msg ? ": " : "", msg ? msg : "");
		json_decref(reply);
		return -EIO;
	}
	json_decref(reply);
	return 0;
}
