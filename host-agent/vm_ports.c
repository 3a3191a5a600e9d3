#include "vm_ports.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest_chan.h"
#include "log.h"
#include "qemu.h"

const char *guest_ports_name(enum guest_ports p)
{
	return p == GUEST_PORTS_PER_CPU ? "per-cpu" : "single";
}

int guest_ports_parse(const char *s, enum guest_ports *ret)
{
	if (strcmp(s, "single") == 0)
		*ret = GUEST_PORTS_SINGLE;
	else if (strcmp(s, "per-cpu") == 0)
		*ret = GUEST_PORTS_PER_CPU;
	else
		return -EINVAL;
	return 0;
}

/* ---- sockets QEMU connects to ----------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
	free(h);
}

void vm_listener_close(uv_pipe_t **p)
{
	if (*p) {
		uv_close((uv_handle_t *)*p, on_listener_closed);
		*p = NULL;
	}
}

uv_pipe_t *vm_accept_one(uv_stream_t *server, uv_pipe_t **slot)
{
	uv_pipe_t *client = malloc(sizeof(*client));
	if (!client)
		return NULL;
	uv_pipe_init(server->loop, client, 0);
	int r = uv_accept(server, (uv_stream_t *)client);
	vm_listener_close(slot);
	if (r < 0) {
		uv_close((uv_handle_t *)client, on_listener_closed);
		return NULL;
	}
	return client;
}

int vm_listen_unix(uv_loop_t *loop, const char *path, void *data, uv_connection_cb cb,
		   uv_pipe_t **slot)
{
	/* libuv truncates a bind path that does not fit sun_path. */
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	uv_pipe_t *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	uv_pipe_init(loop, p, 0);
	p->data = data;
	*slot = p;
	unlink(path);
	int r = uv_pipe_bind(p, path);
	if (r == 0)
		r = uv_listen((uv_stream_t *)p, 1, cb);
	if (r < 0)
		vm_listener_close(slot);
	return r;
}

/* ---- worker CPU ports -------------------------------------------------- */

static void on_port_message(struct guest_chan *ch, const struct wire_frame *f, json_t *meta,
			    void *data)
{
	struct vm_port *p = data;
	log_warn("guest_port_message tenant=%s cpu=%d type=%u code=%s", p->ports->name, p->cpu,
		 f->hdr.type, json_string_value(json_object_get(meta, "code")));
}

static void on_port_closed(struct guest_chan *ch, int reason, void *data)
{
	struct vm_port *p = data;
	p->chan = NULL;
}

static const struct guest_chan_ops port_ops = {
	.message = on_port_message,
	.closed = on_port_closed,
};

static void on_port_connection(uv_stream_t *server, int status)
{
	struct vm_port *p = server->data;
	uv_pipe_t *client = status == 0 ? vm_accept_one(server, &p->listen) : NULL;
	/* Without this port its CPU's invocations take the control channel. */
	if (!client || guest_chan_open(server->loop, client, &port_ops, p, &p->chan) < 0)
		log_warn("guest_port_unusable tenant=%s cpu=%d", p->ports->name, p->cpu);
}

int vm_ports_listen(struct vm_ports *ps, uv_loop_t *loop, const char *dir, int n, const char *name)
{
	ps->name = name;
	ps->n = n < INVOKE_MAX_PORTS ? n : INVOKE_MAX_PORTS;
	for (int cpu = 1; cpu <= ps->n; cpu++) {
		struct vm_port *p = &ps->port[cpu];
		*p = (struct vm_port){ .ports = ps, .cpu = cpu };
		char path[PATH_MAX + 32];
		int r = qemu_cpu_port_socket(dir, cpu, path, sizeof(path));
		if (r == 0)
			r = vm_listen_unix(loop, path, p, on_port_connection, &p->listen);
		if (r < 0) {
			vm_ports_close(ps);
			return r;
		}
	}
	return 0;
}

struct guest_chan *vm_ports_chan(const struct vm_ports *ps, int cpu)
{
	return cpu >= 1 && cpu <= ps->n ? ps->port[cpu].chan : NULL;
}

void vm_ports_close(struct vm_ports *ps)
{
	for (int cpu = 1; cpu <= ps->n; cpu++) {
		struct vm_port *p = &ps->port[cpu];
		vm_listener_close(&p->listen);
		struct guest_chan *ch = p->chan;
		p->chan = NULL;
		guest_chan_close(ch);
	}
	ps->n = 0;
}
