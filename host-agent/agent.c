#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_api.h"
#include "api.h"
#include "log.h"
#include "uplink.h"
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
		.max_timeout_ms = INVOKE_TIMEOUT_MAX_MS,
		.default_timeout_ms = INVOKE_TIMEOUT_DEFAULT_MS,
		.max_inflight = 1024,
		.heartbeat_ms = 1000,
		.snp_policy = SNP_POLICY_DEFAULT,
		.snp_vcpu_model = SNP_VCPU_MODEL_DEFAULT,
		.guest_ports = GUEST_PORTS_DEFAULT,
	};
}

static void on_teardown(uv_timer_t *t);

static struct vm *find_vm(struct agent *a, const char *tenant)
{
	for (struct vm *vm = a->vms; vm; vm = vm->next) {
		if (strcmp(vm->spec.tenant, tenant) == 0)
			return vm;
	}
	return NULL;
}

static void add_vm(struct agent *a, struct vm *vm)
{
	vm->next = a->vms;
	a->vms = vm;
}

static void remove_vm(struct agent *a, struct vm *vm)
{
	for (struct vm **p = &a->vms; *p; p = &(*p)->next) {
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	}
	/* The last VM of a shutdown is gone: close the rest on the next turn
	 * of the loop (this may run deep inside the VM's own callbacks). */
	if (a->stopping && !a->vms)
		uv_timer_start(&a->teardown, on_teardown, 0, 0);
}

static void on_vm_gone(struct vm *vm, void *data)
{
	remove_vm(data, vm);
}

/* Starts a VM for spec as vm_start does, and keeps it in the agent's list
 * until it is gone. Also fails with -EEXIST when the tenant has a VM here. */
static int start_vm(struct agent *a, const struct vm_spec *spec, vm_ready_fn cb, void *data,
		    struct vm **ret)
{
	int r = vm_spec_check(spec);
	if (r < 0)
		return r;
	if (find_vm(a, spec->tenant))
		return -EEXIST;
	struct vm *vm;
	r = vm_start(&a->vm_env, spec, cb, data, &vm);
	if (r < 0)
		return r;
	add_vm(a, vm);
	*ret = vm;
	return 0;
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

/* ---- status ------------------------------------------------------------------ */

static json_t *cores_json(const struct agent *a)
{
	bool free_set[CORES_MAX] = { false };
	for (int i = 0; i < CORES_MAX; i++)
		free_set[i] = a->cores.owned[i] && !a->cores.granted[i];
	char budget[256], freel[256];
	cores_format(a->cores.owned, budget, sizeof(budget));
	cores_format(free_set, freel, sizeof(freel));
	return json_pack("{s:s, s:s, s:i, s:i}", "budget", budget, "free", freel, "total",
			 a->cores.n_owned, "free_count", cores_free_count(&a->cores));
}

static long self_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kib;
}

/* Every VM, newest first, as vm_to_json() has it. */
static json_t *vms_json(const struct agent *a)
{
	json_t *vms = json_array();
	for (struct vm *vm = a->vms; vm; vm = vm->next)
		json_array_append_new(vms, vm_to_json(vm));
	return vms;
}

static json_t *confidential_json(const struct agent *a)
{
	json_t *o = json_pack("{s:b}", "sev_snp", a->snp.supported);
	if (o && !a->snp.supported)
		json_object_set_new(o, "reason", json_string(a->snp.reason));
	return o;
}

json_t *agent_status_json(const struct agent *a)
{
	json_t *vms = vms_json(a);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:o}", "accel", accel_name(a->accel),
			 "accel_reason", a->accel_why, "qemu", a->qemu_version, "image_digest",
			 a->image.digest, "cores", cores_json(a), "vms", vms, "agent_rss_kib",
			 (json_int_t)self_rss_kib(), "confidential", confidential_json(a));
}

/* Finds once whether this host can launch sev-snp VMs, and how. */
static void setup_snp(struct agent *a)
{
	struct vm_snp *snp = &a->snp;
	snp->launch = (struct qemu_snp){ .ovmf = a->cfg.ovmf_amdsev,
					 .policy = a->cfg.snp_policy,
					 .cpu_model = a->cfg.snp_vcpu_model };
	struct snp_host_probe probe = { .accel = a->accel,
					.accel_why = a->accel_why,
					.dev_sev = SNP_HOST_DEV_SEV,
					.snp_param = SNP_HOST_SNP_PARAM,
					.ovmf = a->cfg.ovmf_amdsev,
					.image = &a->image };
	snp->supported = snp_host_check(&probe, snp->reason, sizeof(snp->reason)) == 0;
	if (snp->supported &&
	    snp_host_cbit(&snp->launch.cbitpos, &snp->launch.reduced_phys_bits) < 0) {
		snp->supported = false;
		snprintf(snp->reason, sizeof(snp->reason),
			 "CPUID 0x8000001F reports no SEV memory encryption C-bit");
	}
	if (snp->supported)
		log_info("agent_sev_snp supported=yes ovmf=%s policy=0x%llx cbitpos=%u",
			 snp->launch.ovmf, (unsigned long long)snp->launch.policy,
			 snp->launch.cbitpos);
	else
		log_info("agent_sev_snp supported=no reason=\"%s\"", snp->reason);
}

/* ---- the API token -------------------------------------------------------------- */

static bool token_is_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n >= AGENT_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return false;
	}
	return true;
}

int agent_read_token(const char *path, char ret[AGENT_TOKEN_MAX])
{
	char buf[AGENT_TOKEN_MAX + 64];
	int n = file_read_text(path, buf, sizeof(buf));
	if (n == -EFBIG)
		return -EINVAL;
	if (n < 0)
		return n;
	char *start = buf + strspn(buf, " \t\r\n");
	size_t len = strcspn(start, "\r\n");
	while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
		len--;
	start[len] = '\0';
	if (!token_is_valid(start))
		return -EINVAL;
	memcpy(ret, start, len + 1);
	return 0;
}

/* Why agent_read_token() failed, for a message. */
static const char *token_strerror(int r)
{
	return r == -EINVAL ? "empty, too long or not printable ASCII" : strerror(-r);
}

/* 32 random bytes in hex: a new token for each start, so a token seen by an
 * earlier controller or left in an old file opens nothing now. */
static int token_generate(char ret[AGENT_TOKEN_MAX])
{
	unsigned char bytes[32];
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -EIO;
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(ret + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

/* Writes the token readable by its owner only (also when the file was there
 * before with a wider mode). */
static int token_write(const char *path, const char *token)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;
	size_t n = strlen(token);
	char line[AGENT_TOKEN_MAX + 1];
	memcpy(line, token, n);
	line[n] = '\n';
	if (r == 0 && write(fd, line, n + 1) != (ssize_t)(n + 1))
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int setup_token(struct agent *a, char *err, size_t err_len)
{
	const struct agent_config *cfg = &a->cfg;
	int r = 0;
	if (cfg->token_file) {
		r = agent_read_token(cfg->token_file, a->token);
		if (r < 0)
			snprintf(err, err_len, "cannot read a token from %s: %s", cfg->token_file,
				 token_strerror(r));
		return r;
	}
	if (!cfg->n_controllers)
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/agent.token", cfg->data_dir);
	r = token_generate(a->token);
	if (r == 0)
		r = token_write(path, a->token);
	if (r < 0)
		snprintf(err, err_len, "cannot write the API token to %s: %s", path, strerror(-r));
	return r;
}

/* ---- the operator API -------------------------------------------------------------- */

/* What the API's routes ask of the agent (struct api_server_ops). */
static struct vm *op_find_vm(void *data, const char *tenant)
{
	return find_vm(data, tenant);
}

static json_t *op_vms_json(void *data)
{
	return vms_json(data);
}

static int op_start_vm(void *data, const struct vm_spec *spec, vm_ready_fn cb, void *cb_data,
		       struct vm **ret)
{
	return start_vm(data, spec, cb, cb_data, ret);
}

static json_t *op_status_json(void *data)
{
	return agent_status_json(data);
}

static bool op_is_stopping(void *data)
{
	const struct agent *a = data;
	return a->stopping;
}

static const struct api_server_ops api_ops = {
	.find_vm = op_find_vm,
	.vms_json = op_vms_json,
	.start_vm = op_start_vm,
	.status_json = op_status_json,
	.is_stopping = op_is_stopping,
};

/* Starts the API on cfg.listen_addr:cfg.port; the token is set. */
static int start_api(struct agent *a, char *err, size_t err_len)
{
	const struct agent_config *cfg = &a->cfg;
	struct api_server_config api_cfg = {
		.listen_addr = cfg->listen_addr,
		.port = cfg->port,
		.token = a->token,
		.max_input = cfg->max_input,
		.max_artifact = cfg->max_artifact,
		.default_timeout_ms = cfg->default_timeout_ms,
		.max_timeout_ms = cfg->max_timeout_ms,
		.max_output = cfg->max_output,
		.max_inflight = cfg->max_inflight,
		.store = &a->store,
		.snp_refusal = a->snp.supported ? NULL : a->snp.reason,
	};
	int r = api_server_start(a->loop, &api_cfg, &api_ops, a, &a->api, &a->port);
	if (r < 0)
		snprintf(err, err_len, "cannot listen on %s:%d: %s", cfg->listen_addr, cfg->port,
			 r == -EINVAL ? "bad address" : "address in use or not permitted");
	return r;
}

/* ---- the controller link ------------------------------------------------------------ */

static json_t *uplink_status(void *data)
{
	return agent_status_json(data);
}

/* Starts a link to each of cfg.controllers, each on a thread of its own so
 * that a controller that is down never delays the others; the API is
 * listening and the token set. */
static int start_uplink(struct agent *a, char *err, size_t err_len)
{
	const struct agent_config *cfg = &a->cfg;
	char key[AGENT_TOKEN_MAX] = "";
	if (cfg->controller_key_file) {
		int r = agent_read_token(cfg->controller_key_file, key);
		if (r < 0) {
			snprintf(err, err_len, "cannot read the controller key from %s: %s",
				 cfg->controller_key_file, token_strerror(r));
			return r;
		}
	}
	char listen_url[256];
	snprintf(listen_url, sizeof(listen_url), "http://%s:%d", cfg->listen_addr, a->port);
	struct uplink_config ucfg = {
		.controller_key = key[0] ? key : NULL,
		.host_id = cfg->host_id,
		.address = cfg->advertise ? cfg->advertise : listen_url,
		.token = a->token,
		.cores = a->cores.n_owned,
		.heartbeat_ms = cfg->heartbeat_ms,
	};
	int r = 0;
	for (size_t i = 0; r == 0 && i < cfg->n_controllers; i++) {
		ucfg.controller_url = cfg->controllers[i];
		r = uplink_start(a->loop, &ucfg, uplink_status, a, err, err_len, &a->uplinks[i]);
	}
	explicit_bzero(key, sizeof(key));
	return r;
}

/* ---- life ---------------------------------------------------------------------- */

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
	setup_snp(a);
	if (cfg->wire_capture && (r = mkdir_parents(cfg->wire_capture, 0700)) < 0) {
		snprintf(err, err_len, "cannot create the wire capture folder %s: %s",
			 cfg->wire_capture, strerror(-r));
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
		snprintf(err, err_len, "cannot create data folder %s: %s", cfg->data_dir,
			 strerror(-r));
		return r;
	}
	a->vm_env = (struct vm_env){
		.loop = loop,
		.cores = &a->cores,
		.store = &a->store,
		.image = &a->image,
		.accel = a->accel,
		.qemu = a->cfg.qemu,
		.qemu_major = a->qemu_major,
		.qemu_version = a->qemu_version,
		.data_dir = a->cfg.data_dir,
		.ping_interval_ms = a->cfg.ping_interval_ms,
		.ping_timeout_ms = a->cfg.ping_timeout_ms,
		.boot_timeout_ms = a->cfg.boot_timeout_ms,
		.max_timeout_ms = a->cfg.max_timeout_ms,
		.max_inflight = a->cfg.max_inflight,
		.snp = &a->snp,
		.wire_capture = a->cfg.wire_capture,
		.guest_ports = a->cfg.guest_ports,
		.gone = on_vm_gone,
		.data = a,
	};
	r = setup_token(a, err, err_len);
	if (r < 0)
		return r;
	r = start_api(a, err, err_len);
	if (r < 0)
		return r;
	uv_signal_init(loop, &a->sig_int);
	uv_signal_init(loop, &a->sig_term);
	uv_timer_init(loop, &a->teardown);
	a->handles_init = true;
	a->sig_int.data = a->sig_term.data = a->teardown.data = a;
	uv_signal_start(&a->sig_int, on_signal, SIGINT);
	uv_signal_start(&a->sig_term, on_signal, SIGTERM);

	char budget[256];
	cores_format(a->cores.owned, budget, sizeof(budget));
	log_info("agent_listening url=http://%s:%d accel=%s accel_reason=\"%s\" qemu=%s cores=%s "
		 "image_digest=%s auth=%s",
		 cfg->listen_addr, a->port, accel_name(a->accel), a->accel_why, a->qemu_version,
		 budget, a->image.digest, a->token[0] ? "token" : "none");
	if (cfg->n_controllers) {
		r = start_uplink(a, err, err_len);
		if (r < 0)
			return r;
	}
	if (cfg->ready_file) {
		FILE *f = fopen(cfg->ready_file, "we");
		if (f) {
			fprintf(f, "http://%s:%d\n", cfg->listen_addr, a->port);
			fclose(f);
		}
	}
	return 0;
}

/* Closes what the agent holds open on the loop besides its VMs: the API,
 * the controller link, the signal handlers and the teardown timer. Once
 * their close callbacks have run, the loop has nothing left and uv_run()
 * returns. Safe to call twice and on a half-initialised agent. */
static void agent_close(struct agent *a)
{
	for (size_t i = 0; i < AGENT_CONTROLLERS_MAX; i++) {
		uplink_stop(a->uplinks[i]);
		a->uplinks[i] = NULL;
	}
	api_server_stop(a->api);
	a->api = NULL;
	if (a->handles_init) {
		a->handles_init = false;
		uv_close((uv_handle_t *)&a->sig_int, NULL);
		uv_close((uv_handle_t *)&a->sig_term, NULL);
		uv_close((uv_handle_t *)&a->teardown, NULL);
	}
}

static void on_teardown(uv_timer_t *t)
{
	agent_close(t->data);
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
	/* With no VM left to wait for, close at once (on the next turn, like
	 * remove_vm does for the last VM). */
	if (!a->vms)
		uv_timer_start(&a->teardown, on_teardown, 0, 0);
}

int agent_run(struct agent *a)
{
	return uv_run(a->loop, UV_RUN_DEFAULT);
}

void agent_free(struct agent *a)
{
	if (!a || !a->loop)
		return;
	agent_close(a);
	/* Lets the close callbacks free what they own: a no-op after a normal
	 * agent_run(), the rest of the work after a failed agent_init(). */
	uv_run(a->loop, UV_RUN_DEFAULT);
	explicit_bzero(a->token, sizeof(a->token));
}
