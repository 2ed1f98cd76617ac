/*  answer — the one place a domain result of the stores (store_result_t,
    include/store.h) becomes an API answer: HTTP status, error code and
    message (the original design's Korean texts where it has them), as one
    table. The store fills an Idempotency-Key's stored answer through it
    (so a replay is byte for byte the first answer), the actors answer
    their own refusals (expired, unavailable) through it too. */
#ifndef ANSWER_H_INCLUDED
#define ANSWER_H_INCLUDED

#include "store.h"

//  Fills reply->status and reply->body from reply->result and its details
//  (about, why, shortfall, menu_id). A DONE reply must carry its result
//  document in reply->body already (kept as is); a REPLAY its stored status
//  and body. Returns 0, or -1 when out of memory (body NULL).
int answer_fill (store_reply_t *reply);

//  Sets reply to result (no details) and fills it.
int answer_set (store_reply_t *reply, store_result_t result);

#endif
