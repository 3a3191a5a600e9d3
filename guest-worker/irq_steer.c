#include "irq_steer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The IRQ number of a /proc/interrupts line ("  25:  ..."), or -1. */
static int line_irq(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] == ' ')
		i++;
	int irq = 0;
	size_t start = i;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && irq < 1000000; i++)
		irq = irq * 10 + (line[i] - '0');
	return i > start && i < len && line[i] == ':' ? irq : -1;
}

/* Whether the line's last field is exactly name. */
static bool line_names(const char *line, size_t len, const char *name)
{
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
		len--;
	size_t n = strlen(name);
	return len > n && line[len - n - 1] == ' ' && memcmp(line + len - n, name, n) == 0;
}

int irq_port_vectors(const char *text, const char *dev, int port, int ret_irqs[2])
{
	char names[2][64];
	snprintf(names[0], sizeof(names[0]), "%s-input", dev);
	snprintf(names[1], sizeof(names[1]), "%s-output", dev);
	int seen[2] = { 0, 0 };
	ret_irqs[0] = ret_irqs[1] = -1;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		int irq = line_irq(p, len);
		for (int k = 0; irq >= 0 && k < 2; k++)
			if (line_names(p, len, names[k]) && seen[k]++ == port)
				ret_irqs[k] = irq;
		p += len + (nl ? 1 : 0);
	}
	return ret_irqs[0] < 0 && ret_irqs[1] < 0 ? -ENOENT : 0;
}

/* The port number M of "vportNpM", or -EINVAL. */
static int vport_port(const char *vport)
{
	const char *p = strrchr(vport, 'p');
	if (strncmp(vport, "vport", 5) != 0 || !p || p == vport + 4 || !p[1])
		return -EINVAL;
	char *end;
	long m = strtol(p + 1, &end, 10);
	return *end || m < 0 || m > INT_MAX ? -EINVAL : (int)m;
}

/* The virtio device ("virtio1") the port belongs to. */
static int vport_device(const char *sysfs_root, const char *vport, char *out, size_t size)
{
	char link[PATH_MAX], target[PATH_MAX];
	snprintf(link, sizeof(link), "%s/class/virtio-ports/%s/device", sysfs_root, vport);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	snprintf(out, size, "%.63s", base ? base + 1 : target);
	return 0;
}

int irq_steer_port(const char *sysfs_root, const char *proc_root, const char *vport, int cpu)
{
	int port = vport_port(vport);
	if (port < 0)
		return port;
	char dev[64], path[PATH_MAX];
	int r = vport_device(sysfs_root, vport, dev, sizeof(dev));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/interrupts", proc_root);
	void *text = NULL;
	size_t len;
	r = file_read_all(path, &text, &len);
	if (r < 0)
		return r;
	int irqs[2];
	r = irq_port_vectors(text, dev, port, irqs);
	free(text);
	if (r < 0)
		return r;
	int steered = 0;
	for (int k = 0; k < 2; k++) {
		if (irqs[k] < 0)
			continue;
		char value[16];
		snprintf(path, sizeof(path), "%s/irq/%d/smp_affinity_list", proc_root, irqs[k]);
		snprintf(value, sizeof(value), "%d\n", cpu);
		if ((r = file_write_text(path, value)) < 0)
			return r;
		steered++;
	}
	return steered;
}
