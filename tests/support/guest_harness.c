#include "support/guest_harness.h"

#include "daemon.h"
#include "log.h"
#include "util.h"

/* ---- frames -------------------------------------------------------------- */

void guest_msg_free(struct guest_msg *m)
{
	json_decref(m->meta);
	free(m->body);
	*m = (struct guest_msg){ 0 };
}

json_int_t guest_msg_int(const struct guest_msg *m, const char *key)
{
	json_t *v = json_object_get(m->meta, key);
	if (!json_is_integer(v))
		fail_msg("meta has no integer \"%s\"", key);
	return json_integer_value(v);
}

const char *guest_msg_str(const struct guest_msg *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m->meta, key));
	if (!s)
		fail_msg("meta has no string \"%s\"", key);
	return s;
}

bool guest_msg_bool(const struct guest_msg *m, const char *key)
{
	json_t *v = json_object_get(m->meta, key);
	if (!json_is_boolean(v))
		fail_msg("meta has no boolean \"%s\"", key);
	return json_is_true(v);
}

char *guest_msg_result(const struct guest_msg *m)
{
	size_t n = (size_t)guest_msg_int(m, "result_len");
	assert_true(n <= m->body_len);
	char *s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, m->body, n);
	s[n] = '\0';
	return s;
}

void guest_msg_expect_result(const struct guest_msg *m, const char *want)
{
	char *result = guest_msg_result(m);
	assert_string_equal(result, want);
	free(result);
}

long guest_msg_result_long(const struct guest_msg *m)
{
	char *result = guest_msg_result(m);
	long v = strtol(result, NULL, 10);
	free(result);
	return v;
}

const char *guest_msg_log(const struct guest_msg *m)
{
	return (const char *)m->body + guest_msg_int(m, "result_len");
}

/* ---- the peer: receiving ------------------------------------------------- */

/* Takes one whole frame out of the decoder; false when none is there. */
static bool frame_take(struct peer *p, struct guest_msg *ret)
{
	struct wire_frame f;
	int r = wire_decoder_next(&p->dec, &f);
	if (r == 0)
		return false;
	assert_int_equal(r, 1);
	json_error_t jerr;
	*ret = (struct guest_msg){ .hdr = f.hdr, .body_len = f.hdr.body_len };
	ret->meta = json_loadb(f.meta, f.hdr.meta_len, 0, &jerr);
	if (!ret->meta)
		fail_msg("bad meta from the daemon: %s", jerr.text);
	ret->body = malloc(f.hdr.body_len + 1);
	assert_non_null(ret->body);
	memcpy(ret->body, f.body, f.hdr.body_len);
	ret->body[f.hdr.body_len] = '\0';
	return true;
}

void peer_recv_raw(struct peer *p, struct guest_msg *ret)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (!frame_take(p, ret)) {
		uint64_t now = guest_now_ms();
		if (now >= deadline)
			fail_msg("no frame from the daemon within %d ms", GUEST_DEADLINE_MS);
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		uint8_t buf[65536];
		ssize_t k = read(p->fd, buf, sizeof(buf));
		if (k == 0)
			fail_msg("the daemon closed the channel");
		assert_true(k > 0);
		assert_int_equal(wire_decoder_feed(&p->dec, buf, (size_t)k), 0);
	}
}

static bool msg_matches(const struct guest_msg *m, uint32_t id, uint8_t type0)
{
	return m->hdr.id == id && (id != 0 || m->hdr.type == type0);
}

void peer_wait(struct peer *p, uint32_t id, uint8_t type0, struct guest_msg *ret)
{
	struct guest_msg **tail = &p->saved;
	for (struct guest_msg **s = &p->saved; *s; s = &(*s)->next) {
		struct guest_msg *m = *s;
		if (msg_matches(m, id, type0)) {
			*s = m->next;
			*ret = *m;
			ret->next = NULL;
			free(m);
			return;
		}
		tail = &m->next;
	}
	for (;;) {
		struct guest_msg m;
		peer_recv_raw(p, &m);
		if (msg_matches(&m, id, type0)) {
			*ret = m;
			return;
		}
		struct guest_msg *keep = malloc(sizeof(*keep));
		assert_non_null(keep);
		*keep = m;
		*tail = keep;
		tail = &keep->next;
	}
}

/* ---- the peer: sending --------------------------------------------------- */

void peer_send_raw(struct peer *p, const void *data, size_t len)
{
	const uint8_t *d = data;
	while (len > 0) {
		ssize_t n = write(p->fd, d, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		d += n;
		len -= (size_t)n;
	}
}

void peer_send_header(struct peer *p, const struct wire_header *hdr)
{
	uint8_t h[WIRE_HEADER_SIZE];
	wire_header_pack(hdr, h);
	peer_send_raw(p, h, sizeof(h));
}

uint32_t peer_send(struct peer *p, uint8_t type, const char *meta, const void *body,
		   size_t body_len)
{
	uint32_t id = ++p->next_id;
	uint8_t *f;
	size_t n;
	assert_int_equal(wire_encode(type, id, meta, strlen(meta), body, body_len, &f, &n), 0);
	peer_send_raw(p, f, n);
	free(f);
	return id;
}

void peer_call(struct peer *p, uint8_t type, const char *meta, const void *body, size_t body_len,
	       uint8_t want_type, struct guest_msg *ret)
{
	uint32_t id = peer_send(p, type, meta, body, body_len);
	peer_wait(p, id, 0, ret);
	if (ret->hdr.type != want_type) {
		char *text = json_dumps(ret->meta, 0);
		fail_msg("reply type %u, wanted %u: %s", ret->hdr.type, want_type, text);
	}
}

void peer_expect_error(struct peer *p, uint8_t type, const char *meta, const void *body,
		       size_t body_len, const char *code)
{
	struct guest_msg m;
	peer_call(p, type, meta, body, body_len, WIRE_ERROR, &m);
	assert_string_equal(guest_msg_str(&m, "code"), code);
	assert_true(strlen(guest_msg_str(&m, "message")) > 0);
	guest_msg_free(&m);
}

void peer_ping(struct peer *p)
{
	struct guest_msg m;
	peer_call(p, WIRE_PING, "{}", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(json_object_size(m.meta), 0);
	guest_msg_free(&m);
}

void peer_put_artifact(struct peer *p, const void *data, size_t len, char digest[SHA256_HEX_SIZE])
{
	sha256_hex(data, len, digest);
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	struct guest_msg m;
	peer_call(p, WIRE_ARTIFACT_PUT, meta, data, len, WIRE_REPLY, &m);
	assert_string_equal(guest_msg_str(&m, "digest"), digest);
	assert_int_equal(guest_msg_int(&m, "size"), len);
	guest_msg_free(&m);
}

void peer_put_script(struct peer *p, const char *script, char digest[SHA256_HEX_SIZE])
{
	peer_put_artifact(p, script, strlen(script), digest);
}

void peer_put_sealed(struct peer *p, const uint8_t secret[E2E_KEY_SIZE], const char *text,
		     char digest[SHA256_HEX_SIZE])
{
	uint8_t *sealed;
	size_t len;
	assert_int_equal(e2e_artifact_seal(secret, text, strlen(text), &sealed, &len), 0);
	peer_put_artifact(p, sealed, len, digest);
	free(sealed);
}

void guest_seal_request(const uint8_t vm[E2E_KEY_SIZE], const uint8_t secret[E2E_KEY_SIZE],
			const char *digest, const char *id, const char *input, uint8_t **ret,
			size_t *ret_len)
{
	struct e2e_keypair client;
	assert_int_equal(e2e_client_key(secret, id, &client), 0);
	const struct e2e_aad aad = { .invocation_id = id, .digest = digest };
	assert_int_equal(e2e_request_seal(&client, (const uint8_t(*)[E2E_KEY_SIZE])vm, 1, secret,
					  &aad, input, strlen(input), ret, ret_len),
			 0);
}

void peer_invoke_sealed(struct peer *p, const uint8_t vm[E2E_KEY_SIZE],
			const uint8_t secret[E2E_KEY_SIZE], const char *digest, const char *id,
			const char *extra, const char *input, uint8_t want_type,
			struct guest_msg *ret)
{
	uint8_t *req;
	size_t len;
	guest_seal_request(vm, secret, digest, id, input, &req, &len);
	char meta[512];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"e2e\":true,\"invocation\":\"%s\"%s%s}",
		 digest, id, extra[0] ? "," : "", extra);
	peer_call(p, WIRE_INVOKE, meta, req, len, want_type, ret);
	free(req);
}

uint8_t *guest_test_report(size_t *ret_len)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/snp/v01_virtee_milan_v2/report.bin",
		 dir ? dir : "tests/data");
	void *data;
	if (file_read_all(path, &data, ret_len) < 0)
		fail_msg("cannot read %s (run from the source root or set DITTO_TESTDATA)", path);
	return data;
}

void peer_activate(struct peer *p, int cpu)
{
	char meta[64];
	snprintf(meta, sizeof(meta), "{\"cpu\":%d}", cpu);
	struct guest_msg m;
	peer_call(p, WIRE_CPU_ACTIVATE, meta, NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(guest_msg_int(&m, "cpu"), cpu);
	assert_true(guest_msg_int(&m, "online_us") >= 0);
	assert_true(guest_msg_int(&m, "probe_us") >= 0);
	guest_msg_free(&m);
}

uint32_t peer_invoke_send(struct peer *p, const char *digest, const char *extra, const char *input)
{
	char meta[512];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"%s%s}", digest, extra[0] ? "," : "", extra);
	return peer_send(p, WIRE_INVOKE, meta, input, strlen(input));
}

void peer_invoke(struct peer *p, const char *digest, const char *extra, const char *input,
		 const char *want_status, struct guest_msg *ret)
{
	uint32_t id = peer_invoke_send(p, digest, extra, input);
	peer_wait(p, id, 0, ret);
	if (ret->hdr.type != WIRE_REPLY) {
		char *text = json_dumps(ret->meta, 0);
		fail_msg("invocation failed: %s", text);
	}
	if (want_status)
		assert_string_equal(guest_msg_str(ret, "status"), want_status);
}

json_int_t peer_status_int(struct peer *p, const char *key)
{
	struct guest_msg m;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &m);
	json_int_t v = guest_msg_int(&m, key);
	guest_msg_free(&m);
	return v;
}

void peer_run(struct peer *p, const char *script, const char *input, const char *want_status,
	      struct guest_msg *ret)
{
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, script, digest);
	peer_invoke(p, digest, "", input, want_status, ret);
}

void peer_invoke_expect(struct peer *p, const char *digest, const char *extra, const char *input,
			const char *want_status, const char *want_result)
{
	struct guest_msg m;
	peer_invoke(p, digest, extra, input, want_status, &m);
	if (want_result) {
		char *result = guest_msg_result(&m);
		assert_string_equal(result, want_result);
		free(result);
	}
	guest_msg_free(&m);
}

/* ---- the peer: the daemon's life ----------------------------------------- */

/* In the child: runs the daemon and exits with its outcome. */
static void daemon_child(const struct peer *p, int port_fd, bool eof_ends, int uevent_fd,
			 const struct peer_opts *o)
{
	log_threshold = getenv("DITTO_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARN;
	struct daemon_config cfg;
	daemon_config_defaults(&cfg);
	cfg.port_fd = port_fd;
	cfg.port_eof_ends = eof_ends;
	cfg.sysfs_root = p->fs.sys;
	cfg.artifact_dir = p->art;
	cfg.plain_dir = p->plain;
	cfg.sev_guest = p->sev;
	cfg.uevent_fd = uevent_fd;
	if (o && o->max_body)
		cfg.max_body = o->max_body;
	if (o && o->queue_max)
		cfg.queue_max = o->queue_max;
	if (o && o->launchers)
		cfg.launchers_dir = o->launchers;
	if (o && o->cgroup_root)
		cfg.cgroup_root = o->cgroup_root;
	exit(daemon_run(&cfg) < 0 ? 1 : 0);
}

pid_t peer_fork_daemon(struct peer *p, int port_fd, bool eof_ends, int close_fd)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0 && close_fd >= 0)
		close(close_fd);
	if (pid == 0)
		daemon_child(p, port_fd, eof_ends, dup(p->uevent_fd), NULL);
	return pid;
}

void peer_attach(const struct peer *p, int fd, struct peer *ret)
{
	*ret = *p;
	ret->fd = fd;
	ret->saved = NULL;
	ret->next_id = 100;
	wire_decoder_init(&ret->dec, WIRE_MAX_BODY);
	peer_wait(ret, 0, WIRE_HELLO, &ret->hello);
}

void peer_detach(struct peer *t)
{
	close(t->fd);
	guest_msg_free(&t->hello);
	while (t->saved) {
		struct guest_msg *m = t->saved;
		t->saved = m->next;
		guest_msg_free(m);
		free(m);
	}
	wire_decoder_free(&t->dec);
}

void peer_start_opts(struct peer *p, const struct peer_opts *o)
{
	*p = (struct peer){ .fd = -1, .uevent_fd = -1 };
	fake_sysfs_create(&p->fs, o ? o->possible : NULL, o ? o->present : NULL,
			  o ? o->online : NULL);
	snprintf(p->art, sizeof(p->art), "%s/artifacts", p->fs.dir);
	snprintf(p->plain, sizeof(p->plain), "%s/plain", p->fs.dir);
	snprintf(p->sev, sizeof(p->sev), "%s/sev-guest", p->fs.dir);

	int ch[2], ue[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ue), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ch[0]);
		close(ue[0]);
		daemon_child(p, ch[1], true, ue[1], o);
	}
	close(ch[1]);
	close(ue[1]);
	p->pid = pid;
	p->fd = ch[0];
	p->uevent_fd = ue[0];
	wire_decoder_init(&p->dec, WIRE_MAX_BODY);
	peer_wait(p, 0, WIRE_HELLO, &p->hello);
}

void peer_start(struct peer *p)
{
	peer_start_opts(p, NULL);
}

void peer_stop(struct peer *p)
{
	peer_detach(p);
	close(p->uevent_fd);
	guest_child_exits_cleanly(p->pid);
	fake_sysfs_remove(&p->fs);
}

/* ---- cmocka fixtures ----------------------------------------------------- */

int peer_setup(void **state)
{
	if (!guest_host_has_cpu(1)) {
		print_message("this host cannot run on CPU 1: skipping\n");
		return -1;
	}
	struct peer *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	peer_start(p);
	*state = p;
	return 0;
}

int peer_setup_active(void **state)
{
	int r = peer_setup(state);
	if (r == 0)
		peer_activate(*state, 1);
	return r;
}

int peer_teardown(void **state)
{
	struct peer *p = *state;
	peer_stop(p);
	free(p);
	return 0;
}
