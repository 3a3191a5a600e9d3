#include "inv_reply.h"

#include <stdio.h>

#include "e2e_invoke.h"
#include "log.h"
#include "util.h"

json_t *inv_reply_meta(struct inv *inv)
{
	/* An encrypted invocation's output leaves sealed, or not at all. */
	if (inv->e2e && guest_e2e_seal(inv) < 0) {
		inv->status = INV_ERROR;
		snprintf(inv->error, sizeof(inv->error), "e2e: cannot seal the response");
	}
	json_t *m = json_pack("{s:s, s:i, s:I, s:I, s:I, s:b, s:I, s:I, s:b, s:b}", "status",
			      inv_status_name(inv->status), "cpu", inv->cpu, "wall_us",
			      (json_int_t)inv->wall_us, "cpu_us", (json_int_t)inv->cpu_us,
			      "queued_us", (json_int_t)(inv->started_us - inv->received_us),
			      "cold_start", inv->cold_start, "init_us", (json_int_t)inv->init_us,
			      "result_len", (json_int_t)inv->result.len, "result_truncated",
			      inv->result_truncated, "log_truncated", inv->log_truncated);
	if (m && inv->ran_on >= 0)
		json_object_set_new(m, "ran_on", json_integer(inv->ran_on));
	if (m && inv->exited)
		json_object_set_new(m, "exit_code", json_integer(inv->exit_code));
	else if (m && inv->signal)
		json_object_set_new(m, "signal", json_integer(inv->signal));
	if (m && inv->status != INV_OK)
		json_object_set_new(m, "error", json_string(inv->error));
	if (m && inv->exception)
		json_object_set(m, "exception", inv->exception);
	/* Taken last, so the guest's share covers all but encoding this meta
	 * and queueing the frame on the channel. */
	if (m)
		json_object_set_new(m, "guest_us",
				    json_integer((json_int_t)(time_now_us() - inv->read_us)));
	log_debug("invocation_done id=%u status=%s cpu=%d ran_on=%d wall_us=%llu cold=%d", inv->id,
		  inv_status_name(inv->status), inv->cpu, inv->ran_on,
		  (unsigned long long)inv->wall_us, inv->cold_start);
	return m;
}
