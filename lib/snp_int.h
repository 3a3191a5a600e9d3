/* What snp_report.c (parsing) shares with snp_verify.c (checking), and no
 * one else: the report as decoded, before its TCBs are split for a product. */
#ifndef DITTO_SNP_INT_H
#define DITTO_SNP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snp_verify.h"

/* Decodes a raw or HCL-wrapped report into ret, its TCBs split for the
 * product its CPUID fields name. Returns SNP_VERIFY_OK, or the error. */
enum snp_verify_err snp_report_decode(const void *data, size_t len, struct snp_report *ret);
/* Splits the report's TCB values again for product. */
void snp_report_tcbs_decode(struct snp_report *r, enum snp_product product);
/* The product a version 3 report's CPUID fields name; UNKNOWN otherwise. */
enum snp_product snp_product_from_cpuid(const struct snp_report *r);
/* Whether every part of t is at least min's. */
bool snp_tcb_at_least(const struct snp_tcb *t, const struct snp_tcb *min, enum snp_product product);
/* Whether p[0..n) is all zero bytes. */
bool snp_all_zero(const uint8_t *p, size_t n);

#endif
