/* The runtime disk checked by dm-verity: its parameters come from the kernel
 * command line (one `ditto.runtime=` parameter, which the SEV-SNP launch
 * measurement covers through kernel-hashes), and `ditto-guest verity-open`
 * creates the verity mapping over the disk through the device-mapper's
 * ioctls (no libdevmapper, no DM_INIT in the kernel), for /init to mount.
 *
 * `ditto.runtime=` holds the fields of dm-verity's table (the kernel's
 * Documentation/admin-guide/device-mapper/verity.rst) with commas for
 * spaces and the devices left out:
 *
 *   ditto.runtime=VERSION,DATA_BLOCK_SIZE,HASH_BLOCK_SIZE,DATA_BLOCKS,
 *                 HASH_START_BLOCK,ALGORITHM,ROOT_HASH,SALT
 *
 * (on one line), HASH_START_BLOCK in hash blocks from the start of the
 * disk, which holds the data and then the hash tree; SALT is `-` for none.
 * The parsing and the table are pure; verity_open() is the only part that
 * talks to the kernel. */
#ifndef DITTO_GUEST_VERITY_H
#define DITTO_GUEST_VERITY_H

#include <stddef.h>
#include <stdint.h>

#define VERITY_PARAM "ditto.runtime="
/* Hex digits: a digest of up to 512 bits, a salt of up to 256 bytes. */
#define VERITY_ROOT_HEX_MAX 128
#define VERITY_SALT_HEX_MAX 512

struct verity_params {
	unsigned version; /* 1: the format veritysetup writes */
	unsigned data_block_size, hash_block_size;
	uint64_t data_blocks, hash_start_block;
	char algorithm[32];
	char root_hash[VERITY_ROOT_HEX_MAX + 1];
	char salt[VERITY_SALT_HEX_MAX + 1]; /* "-" for none */
};

/* Finds `ditto.runtime=` in the kernel command line CMDLINE (the last one
 * wins, as for the kernel's own parameters) and reads its fields into
 * *ret. Returns 0, -ENOENT when there is none, or -EINVAL when it is
 * malformed (a field missing or extra, a block size that is not a power of
 * two from 512 to 65536, no data blocks, a hash tree that would overlap the
 * data, a root hash or salt that is not hex). */
int verity_params_parse(const char *cmdline, struct verity_params *ret);

/* Writes the dm-verity table of p, with the device MAJOR:MINOR holding
 * both the data and the hash tree, into buf. Returns 0 or -ENAMETOOLONG. */
int verity_table(const struct verity_params *p, unsigned major, unsigned minor, char *buf,
		 size_t len);

/* The size of p's data in 512-byte sectors: the verity target's length. */
uint64_t verity_sectors(const struct verity_params *p);

/* Creates the read-only verity mapping NAME over the block device DEVICE
 * through /dev/mapper/control and makes its node /dev/mapper/NAME, written
 * to ret_path. Needs dm-mod and dm-verity loaded. Returns 0 or -errno (a
 * mapping half made is removed again); a wrong root hash is not an error
 * here: every read of a block that does not match fails with EIO. */
int verity_open(const struct verity_params *p, const char *device, const char *name,
		char *ret_path, size_t len);

/* `ditto-guest verity-open [--cmdline FILE] DEVICE NAME`: verity_open()
 * with the parameters of the kernel command line (/proc/cmdline), printing
 * the mapping's path. Returns the exit code: 0, 1 with one line on stderr,
 * 2 for a usage error. */
int verity_main(int argc, char **argv);

#endif
