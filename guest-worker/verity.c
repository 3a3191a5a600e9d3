#include "verity.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/dm-ioctl.h>

#include "util.h"

#define VERITY_FIELDS 8
#define DM_CONTROL "/dev/mapper/control"
/* The table and its headers: the longest table is well under 1 KiB. */
#define DM_BUF_SIZE 4096

static bool is_block_size(uint64_t v)
{
	return v >= 512 && v <= 65536 && (v & (v - 1)) == 0;
}

/* Copies the hex string s (an even count of digits, from min to max) into
 * out; "-" too when dash is allowed. */
static int copy_hex(const char *s, size_t min, size_t max, bool dash, char *out)
{
	size_t n = strlen(s);
	if (dash && strcmp(s, "-") == 0) {
		strcpy(out, s);
		return 0;
	}
	if (n < min || n > max || n % 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return -EINVAL;
	}
	strcpy(out, s);
	return 0;
}

/* Reads the comma-separated value of ditto.runtime= (len bytes at v). */
static int parse_value(const char *v, size_t len, struct verity_params *ret)
{
	char text[VERITY_ROOT_HEX_MAX + VERITY_SALT_HEX_MAX + 256];
	if (len >= sizeof(text))
		return -EINVAL;
	memcpy(text, v, len);
	text[len] = '\0';
	char *f[VERITY_FIELDS + 1];
	size_t n = 0;
	for (char *p = text, *comma; n <= VERITY_FIELDS; p = comma + 1) {
		f[n++] = p;
		comma = strchr(p, ',');
		if (!comma)
			break;
		*comma = '\0';
	}
	if (n != VERITY_FIELDS)
		return -EINVAL;
	struct verity_params p = { 0 };
	uint64_t version, dbs, hbs;
	if (parse_u64(f[0], 1, 1, &version) < 0 || parse_u64(f[1], 512, 65536, &dbs) < 0 ||
	    parse_u64(f[2], 512, 65536, &hbs) < 0 || !is_block_size(dbs) || !is_block_size(hbs) ||
	    parse_u64(f[3], 1, UINT64_MAX / 65536, &p.data_blocks) < 0 ||
	    parse_u64(f[4], 1, UINT64_MAX / 65536, &p.hash_start_block) < 0)
		return -EINVAL;
	p.version = (unsigned)version;
	p.data_block_size = (unsigned)dbs;
	p.hash_block_size = (unsigned)hbs;
	/* The hash tree follows the data on the same disk. */
	if (p.hash_start_block * hbs < p.data_blocks * dbs)
		return -EINVAL;
	size_t alg_len = strlen(f[5]);
	if (alg_len == 0 || alg_len >= sizeof(p.algorithm) ||
	    strspn(f[5], "abcdefghijklmnopqrstuvwxyz0123456789-") != alg_len)
		return -EINVAL;
	strcpy(p.algorithm, f[5]);
	if (copy_hex(f[6], 2, VERITY_ROOT_HEX_MAX, false, p.root_hash) < 0 ||
	    copy_hex(f[7], 2, VERITY_SALT_HEX_MAX, true, p.salt) < 0)
		return -EINVAL;
	*ret = p;
	return 0;
}

int verity_params_parse(const char *cmdline, struct verity_params *ret)
{
	const size_t plen = strlen(VERITY_PARAM);
	const char *value = NULL;
	size_t vlen = 0;
	for (const char *p = cmdline; *p;) {
		p += strspn(p, " \t\n");
		size_t n = strcspn(p, " \t\n");
		if (n >= plen && strncmp(p, VERITY_PARAM, plen) == 0) {
			value = p + plen;
			vlen = n - plen;
		}
		p += n;
	}
	if (!value)
		return -ENOENT;
	return parse_value(value, vlen, ret);
}

uint64_t verity_sectors(const struct verity_params *p)
{
	return p->data_blocks * (p->data_block_size / 512);
}

int verity_table(const struct verity_params *p, unsigned major, unsigned minor, char *buf,
		 size_t len)
{
	int n = snprintf(buf, len, "%u %u:%u %u:%u %u %u %" PRIu64 " %" PRIu64 " %s %s %s",
			 p->version, major, minor, major, minor, p->data_block_size,
			 p->hash_block_size, p->data_blocks, p->hash_start_block, p->algorithm,
			 p->root_hash, p->salt);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Prepares the header of a device-mapper request about NAME, size bytes
 * in all with its payload right after the header. */
static void dm_header(struct dm_ioctl *io, size_t size, const char *name)
{
	memset(io, 0, size);
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = (uint32_t)size;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
}

static int dm_call(int fd, unsigned long req, struct dm_ioctl *io)
{
	return ioctl(fd, req, io) < 0 ? -errno : 0;
}

/* Loads TABLE as the one read-only verity target of NAME, sectors long,
 * and resumes the device, which makes the table live. */
static int dm_load_and_resume(int fd, const char *name, uint64_t sectors, const char *table)
{
	_Alignas(8) char buf[DM_BUF_SIZE];
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	struct dm_target_spec *spec = (struct dm_target_spec *)(buf + sizeof(*io));
	size_t params = strlen(table) + 1;
	/* The kernel steps from one target to the next by spec->next, 8-aligned. */
	size_t spec_len = (sizeof(*spec) + params + 7) & ~(size_t)7;
	if (sizeof(*io) + spec_len > sizeof(buf))
		return -ENAMETOOLONG;
	dm_header(io, sizeof(*io) + spec_len, name);
	io->target_count = 1;
	io->flags = DM_READONLY_FLAG;
	spec->sector_start = 0;
	spec->length = sectors;
	spec->next = (uint32_t)spec_len;
	snprintf(spec->target_type, sizeof(spec->target_type), "verity");
	memcpy(spec + 1, table, params);
	int r = dm_call(fd, DM_TABLE_LOAD, io);
	if (r < 0)
		return r;
	dm_header(io, sizeof(*io), name);
	return dm_call(fd, DM_DEV_SUSPEND, io); /* without DM_SUSPEND_FLAG: resume */
}

/* Makes /dev/mapper/NAME, the node of the mapping's device dev. */
static int make_node(const char *name, uint64_t dev, char *ret_path, size_t len)
{
	if (snprintf(ret_path, len, "/dev/mapper/%s", name) >= (int)len)
		return -ENAMETOOLONG;
	unlink(ret_path);
	/* dm_ioctl.dev is the kernel's huge_encode_dev(), which glibc's
	 * major() and minor() decode. */
	dev_t d = makedev(major((dev_t)dev), minor((dev_t)dev));
	return mknod(ret_path, S_IFBLK | 0400, d) < 0 ? -errno : 0;
}

int verity_open(const struct verity_params *p, const char *device, const char *name,
		char *ret_path, size_t len)
{
	struct stat st;
	if (stat(device, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	char table[1024];
	int r = verity_table(p, major(st.st_rdev), minor(st.st_rdev), table, sizeof(table));
	if (r < 0)
		return r;
	int fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct dm_ioctl io;
	dm_header(&io, sizeof(io), name);
	r = dm_call(fd, DM_DEV_CREATE, &io);
	if (r == 0) {
		uint64_t dev = io.dev;
		r = dm_load_and_resume(fd, name, verity_sectors(p), table);
		if (r == 0)
			r = make_node(name, dev, ret_path, len);
		if (r < 0) {
			dm_header(&io, sizeof(io), name);
			dm_call(fd, DM_DEV_REMOVE, &io);
		}
	}
	close(fd);
	return r;
}

static const char verity_usage[] = "usage: ditto-guest verity-open [--cmdline FILE] DEVICE NAME\n";

int verity_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cmdline", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmdline_path = "/proc/cmdline";
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cmdline_path = optarg; break;
		case 'h': fputs(verity_usage, stdout); return 0;
		default: fputs(verity_usage, stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(verity_usage, stderr);
		return 2;
	}
	const char *device = argv[optind], *name = argv[optind + 1];
	char cmdline[4096];
	struct verity_params p;
	int r = file_read_text(cmdline_path, cmdline, sizeof(cmdline));
	if (r < 0) {
		fprintf(stderr, "verity-open: cannot read %s: %s\n", cmdline_path, strerror(-r));
		return 1;
	}
	r = verity_params_parse(cmdline, &p);
	if (r < 0) {
		fprintf(stderr, "verity-open: %s in %s\n",
			r == -ENOENT ? "no " VERITY_PARAM : "malformed " VERITY_PARAM, cmdline_path);
		return 1;
	}
	char path[128];
	r = verity_open(&p, device, name, path, sizeof(path));
	if (r < 0) {
		fprintf(stderr, "verity-open: cannot map %s with dm-verity: %s\n", device,
			strerror(-r));
		return 1;
	}
	printf("%s\n", path);
	return 0;
}
