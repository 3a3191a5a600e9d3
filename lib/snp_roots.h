/* AMD's SEV-SNP root certificates built into Ditto, per product: the ARK
 * (self-signed root, its SHA-256 fingerprint pinned), the ASK that signs
 * VCEKs and the ASVK that signs VLEKs. Used by snp_verify only. */
#ifndef DITTO_SNP_ROOTS_H
#define DITTO_SNP_ROOTS_H

#include <stdint.h>

#include "snp_verify.h"

struct snp_roots {
	enum snp_product product;
	const char *name;       /* "Milan": the word AMD's certificate names use */
	const char *ark, *ask;  /* PEM */
	const char *asvk;       /* PEM, or NULL when none is built in */
	uint8_t ark_sha256[32]; /* SHA-256 of the ARK's DER */
};

/* The roots of a product, or NULL for SNP_PRODUCT_UNKNOWN. Static data. */
const struct snp_roots *snp_roots_get(enum snp_product product);

#endif
