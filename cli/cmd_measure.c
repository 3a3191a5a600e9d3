/* measure: the SEV-SNP launch digest of an image, offline (no controller):
 * what the MEASUREMENT of a confidential VM's attestation report must be. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encoding.h"
#include "snp_image.h"
#include "util.h"

/* The most vCPUs a launch measures (snp_image_digest's limit). */
#define MEASURE_VCPUS_MAX 512

/* What the command line asked to measure. */
struct measure {
	struct snp_image img;
	const char *image_dir;
	char kernel[PATH_MAX], initrd[PATH_MAX], cmdline[4096];
};

/* Fills the kernel, initrd and command line from an image folder as the
 * agent launches a confidential VM: DIR/vmlinuz (the bzImage OVMF measures),
 * DIR/initramfs.cpio.gz and image.json's "cmdline". Returns an exit code. */
static int image_load(struct measure *m)
{
	char path[PATH_MAX];
	const char *dir = m->image_dir;
	if (snprintf(path, sizeof(path), "%s/image.json", dir) >= (int)sizeof(path))
		return cli_fail(CLI_EXIT_USAGE, "--image %s: path too long", dir);
	json_error_t e;
	json_t *o = json_load_file(path, 0, &e);
	if (!o)
		return cli_fail(CLI_EXIT_API, "cannot read %s: %s", path, e.text);
	const char *cmdline = field_str(o, "cmdline");
	int code = CLI_EXIT_OK;
	if (!cmdline || strlen(cmdline) >= sizeof(m->cmdline))
		code = cli_fail(CLI_EXIT_API, "%s has no usable \"cmdline\" string", path);
	else
		snprintf(m->cmdline, sizeof(m->cmdline), "%s", cmdline);
	json_decref(o);
	if (code)
		return code;
	if (snprintf(m->kernel, sizeof(m->kernel), "%s/vmlinuz", dir) >= (int)sizeof(m->kernel) ||
	    snprintf(m->initrd, sizeof(m->initrd), "%s/initramfs.cpio.gz", dir) >=
		    (int)sizeof(m->initrd))
		return cli_fail(CLI_EXIT_USAGE, "--image %s: path too long", dir);
	m->img.kernel = m->kernel;
	m->img.initrd = m->initrd;
	m->img.cmdline = m->cmdline;
	return CLI_EXIT_OK;
}

/* The digest of the firmware pages alone (sev-snp-measure's "OVMF hash",
 * which its --snp-ovmf-hash takes to skip reading the firmware). Returns 0
 * or -errno; the caller has measured the same file already. */
static int ovmf_hash(const char *path, uint8_t ret[SNP_DIGEST_SIZE])
{
	void *fw = NULL;
	size_t len = 0;
	struct snp_ovmf ovmf;
	struct snp_gctx g;
	int r = file_read_all(path, &fw, &len);
	if (r == 0)
		r = snp_ovmf_parse(fw, len, &ovmf);
	if (r == 0) {
		snp_gctx_init(&g);
		r = snp_ovmf_update_pages(&ovmf, &g);
	}
	if (r == 0)
		memcpy(ret, g.ld, SNP_DIGEST_SIZE);
	free(fw);
	return r;
}

static int measure_print(const struct cli *cli, const struct measure *m,
			 const uint8_t digest[SNP_DIGEST_SIZE])
{
	char hex[2 * SNP_DIGEST_SIZE + 1], fw_hex[2 * SNP_DIGEST_SIZE + 1], features[32];
	uint8_t fw[SNP_DIGEST_SIZE];
	bytes_to_hex(digest, SNP_DIGEST_SIZE, hex);
	if (!cli->json) {
		printf("%s\n", hex);
		return CLI_EXIT_OK;
	}
	int r = ovmf_hash(m->img.ovmf, fw);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "%s: %s", m->img.ovmf, strerror(-r));
	bytes_to_hex(fw, SNP_DIGEST_SIZE, fw_hex);
	snprintf(features, sizeof(features), "0x%llx", (unsigned long long)m->img.guest_features);
	const struct snp_image *i = &m->img;
	json_t *o = json_pack("{s:s, s:{s:s, s:s?, s:s?, s:s?, s:s?, s:i, s:s, s:s, s:s}}",
			      "measurement", hex, "inputs", "ovmf", i->ovmf, "image", m->image_dir,
			      "kernel", i->kernel, "initrd", i->initrd, "cmdline", i->cmdline,
			      "vcpus", (int)i->vcpus, "vcpu_type", i->vcpu_model, "guest_features",
			      features, "ovmf_hash", fw_hex);
	int code = cli_print_json(o);
	json_decref(o);
	return code;
}

/* Parses --guest-features: 0x-prefixed hex or decimal, 64 bits. */
static int features_parse(const char *s, uint64_t *ret)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? s + 2 : s;
	if (!*digits ||
	    strspn(digits, hex ? "0123456789abcdefABCDEF" : "0123456789") != strlen(digits))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(digits, NULL, hex ? 16 : 10);
	if (errno)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* Checks the combination of options once they are all parsed. */
static int measure_check(const struct cli_command *cmd, const struct measure *m, bool kernel_opts)
{
	if (!m->img.ovmf)
		return cli_usage_error(cmd, "--ovmf FILE is required (an AmdSev build of OVMF)");
	if (m->image_dir && (m->img.kernel || kernel_opts))
		return cli_usage_error(cmd,
				       "give --image DIR or --kernel/--initrd/--append, not both");
	if (!m->img.kernel && kernel_opts)
		return cli_usage_error(cmd, "--initrd and --append need --kernel");
	if (m->img.vcpus == 0)
		return cli_usage_error(cmd, "give --vcpus N or --max-workers N");
	return 0;
}

static int run_measure(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum {
		O_OVMF = OPT_FIRST_COMMAND,
		O_IMAGE,
		O_KERNEL,
		O_INITRD,
		O_APPEND,
		O_VCPUS,
		O_MAX_WORKERS,
		O_VCPU_TYPE,
		O_FEATURES
	};
	static const struct option opts[] = {
		{ "ovmf", required_argument, NULL, O_OVMF },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "append", required_argument, NULL, O_APPEND },
		{ "vcpus", required_argument, NULL, O_VCPUS },
		{ "max-workers", required_argument, NULL, O_MAX_WORKERS },
		{ "vcpu-type", required_argument, NULL, O_VCPU_TYPE },
		{ "guest-features", required_argument, NULL, O_FEATURES },
		CLI_GLOBAL_OPTIONS,
	};
	struct measure m = { .img = { .vcpu_model = SNP_VCPU_MODEL_DEFAULT,
				      .guest_features = SNP_GUEST_FEATURES_DEFAULT } };
	bool kernel_opts = false, counted = false;
	uint64_t v;
	uint32_t sig;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_OVMF: m.img.ovmf = optarg; break;
		case O_IMAGE: m.image_dir = optarg; break;
		case O_KERNEL: m.img.kernel = optarg; break;
		case O_INITRD:
			m.img.initrd = optarg;
			kernel_opts = true;
			break;
		case O_APPEND:
			m.img.cmdline = optarg;
			kernel_opts = true;
			break;
		case O_VCPUS:
		case O_MAX_WORKERS: {
			/* A VM has its boot vCPU and max-workers worker vCPUs,
			 * all present from launch. */
			int workers = c == O_MAX_WORKERS;
			if (counted)
				return cli_usage_error(cmd, "give --vcpus or --max-workers once");
			counted = true;
			if (parse_u64(optarg, !workers, MEASURE_VCPUS_MAX - workers, &v) < 0)
				return cli_usage_error(cmd, "%s must be %d..%d, got \"%s\"",
						       workers ? "--max-workers" : "--vcpus",
						       !workers, MEASURE_VCPUS_MAX - workers,
						       optarg);
			m.img.vcpus = (unsigned)v + (unsigned)workers;
			break;
		}
		case O_VCPU_TYPE:
			if (snp_vcpu_model_signature(optarg, &sig) < 0)
				return cli_usage_error(
					cmd,
					"unknown --vcpu-type \"%s\": one of QEMU's EPYC models, "
					"e.g. EPYC-v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa",
					optarg);
			m.img.vcpu_model = optarg;
			break;
		case O_FEATURES:
			if (features_parse(optarg, &m.img.guest_features) < 0)
				return cli_usage_error(
					cmd,
					"--guest-features must be a number such as 0x21, got \"%s\"",
					optarg);
			break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((code = cli_need_args(cmd, argc, argv, 0, 0)) ||
	    (code = measure_check(cmd, &m, kernel_opts)))
		return code;
	if (m.image_dir && (code = image_load(&m)))
		return code;
	uint8_t digest[SNP_DIGEST_SIZE];
	char err[PATH_MAX + 128];
	int r = snp_image_digest(&m.img, digest, err, sizeof(err));
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "%s", err);
	return measure_print(cli, &m, digest);
}

const struct cli_command cmd_measure = {
	"measure",
	"--ovmf FILE [--image DIR | --kernel FILE [--initrd FILE] [--append TEXT]] "
	"(--vcpus N | --max-workers N) [--vcpu-type EPYC-v4] [--guest-features 0x21]",
	"print the SEV-SNP launch digest a confidential VM's attestation report must hold",
	"Computes offline, from the files an SNP launch puts in guest memory, the MEASUREMENT\n"
	"the hardware will report for the VM (AMD's SNP ABI: OVMF's pages and SNP metadata,\n"
	"the kernel-hashes page of a measured direct kernel boot, one VMSA per vCPU). Prints\n"
	"it as 96 hex digits; with --json {\"measurement\", \"inputs\"}, where inputs also holds\n"
	"ovmf_hash, the digest of the firmware pages alone. Needs no controller.\n\n"
	"options:\n"
	"  --ovmf FILE            an AmdSev build of OVMF (OvmfPkg/AmdSev/AmdSevX64.dsc): only\n"
	"                         it measures a kernel (see docs/security.md for where to get it)\n"
	"  --image DIR            a guest image as the agent launches it: DIR/vmlinuz,\n"
	"                         DIR/initramfs.cpio.gz and the cmdline of DIR/image.json\n"
	"  --kernel FILE          or the kernel, --initrd FILE (default: empty) and --append\n"
	"                         TEXT (default: empty) one by one; with neither --image nor\n"
	"                         --kernel, the firmware boots without a measured kernel\n"
	"  --vcpus N              vCPUs present at launch, or\n"
	"  --max-workers N        a tenant's max worker vCPUs: N + 1 vCPUs (the boot vCPU)\n"
	"  --vcpu-type MODEL      QEMU's -cpu model (default " SNP_VCPU_MODEL_DEFAULT ")\n"
	"  --guest-features X     the VMSA SEV features (default 0x21: SNPActive, DebugSwap)\n",
	run_measure,
};
