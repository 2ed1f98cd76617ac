/*  wire — the request/reply format between the HTTP front and the actors.
    See include/wire.h for the frames. */
#include "coffee.h"

//  "inproc://coffee-<pool>-<index>"
void
wire_endpoint (const char *pool, int index, char *buf, size_t len)
{
    snprintf (buf, len, "inproc://coffee-%s-%d", pool, index);
}

//  "inproc://coffee-snapshot-<index>"
void
wire_snapshot_endpoint (int index, char *buf, size_t len)
{
    snprintf (buf, len, "inproc://coffee-snapshot-%d", index);
}

//  Copies a frame's bytes into a fixed buffer; -1 if it does not fit.
static int
s_frame_copy (zframe_t *frame, char *buf, size_t len)
{
    size_t size = zframe_size (frame);
    if (size >= len)
        return -1;
    memcpy (buf, zframe_data (frame), size);
    buf [size] = 0;
    return 0;
}

//  Parses a decimal u64 frame.
static int
s_frame_u64 (zframe_t *frame, uint64_t *out)
{
    char buf [24];
    if (s_frame_copy (frame, buf, sizeof buf) || !*buf)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (buf, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

//  Sends the request frames on a DEALER.
int
wire_request_send (zsock_t *dealer, const wire_request_t *req)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "REQ");
    zmsg_addstr (msg, req->rid);
    zmsg_addstrf (msg, "%" PRIu64, req->seq);
    zmsg_addstrf (msg, "%" PRId64, req->deadline_ms);
    zmsg_addstr (msg, req->op);
    zmsg_addstr (msg, req->idem);
    zmsg_addmem (msg, &req->cmd, sizeof req->cmd);
    zmsg_addstr (msg, req->body ? req->body : "");
    int rc = zmsg_send (&msg, dealer);
    zmsg_destroy (&msg);
    return rc;
}

//  Parses a decimal i64 frame.
static int
s_frame_i64 (zframe_t *frame, int64_t *out)
{
    char buf [24];
    if (s_frame_copy (frame, buf, sizeof buf) || !*buf)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll (buf, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

//  Copies the typed command frame; -1 unless it is exactly a wire_cmd_t
//  whose strings all end inside their fields.
static int
s_frame_cmd (zframe_t *frame, wire_cmd_t *cmd)
{
    if (zframe_size (frame) != sizeof *cmd)
        return -1;
    memcpy (cmd, zframe_data (frame), sizeof *cmd);
    if (!memchr (cmd->customer_id, 0, sizeof cmd->customer_id)
    ||  !memchr (cmd->order_no, 0, sizeof cmd->order_no)
    ||  !memchr (cmd->name, 0, sizeof cmd->name)
    ||  cmd->line_count > WIRE_LINES_MAX)
        return -1;
    for (size_t i = 0; i < cmd->line_count; i++)
        if (!memchr (cmd->lines [i].menu_id, 0, sizeof cmd->lines [i].menu_id))
            return -1;
    return 0;
}

//  Receives a request on a ROUTER: identity, then the eight frames.
int
wire_request_recv (zsock_t *router, zframe_t **identity, wire_request_t *req)
{
    memset (req, 0, sizeof *req);
    *identity = NULL;
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        return -1;
    if (zmsg_size (msg) != 9)
        goto malformed;
    *identity = zmsg_pop (msg);
    zframe_t *frame = zmsg_first (msg);
    if (!zframe_streq (frame, "REQ"))
        goto malformed;
    if (s_frame_copy (zmsg_next (msg), req->rid, sizeof req->rid)
    ||  s_frame_u64 (zmsg_next (msg), &req->seq)
    ||  s_frame_i64 (zmsg_next (msg), &req->deadline_ms)
    ||  s_frame_copy (zmsg_next (msg), req->op, sizeof req->op)
    ||  s_frame_copy (zmsg_next (msg), req->idem, sizeof req->idem)
    ||  s_frame_cmd (zmsg_next (msg), &req->cmd))
        goto malformed;
    req->body = zframe_strdup (zmsg_next (msg));
    zmsg_destroy (&msg);
    return 0;

malformed:
    log_error (NULL, "wire: dropped a malformed request of %zu frames", zmsg_size (msg));
    zframe_destroy (identity);
    zmsg_destroy (&msg);
    wire_request_reset (req);
    return -1;
}

//  Frees the body and clears the request.
void
wire_request_reset (wire_request_t *req)
{
    zstr_free (&req->body);
    memset (req, 0, sizeof *req);
}

//  A deadline of 0 never passes.
bool
wire_request_expired (const wire_request_t *req)
{
    return req->deadline_ms > 0 && zclock_mono () > req->deadline_ms;
}

//  Sends a reply to the peer named by *identity.
int
wire_reply_send (zsock_t *router, zframe_t **identity, uint64_t seq, int status,
                 const char *body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, identity);
    zmsg_addstr (msg, "REP");
    zmsg_addstrf (msg, "%" PRIu64, seq);
    zmsg_addstrf (msg, "%d", status);
    zmsg_addstr (msg, body ? body : "");
    int rc = zmsg_send (&msg, router);
    zmsg_destroy (&msg);
    return rc;
}

//  Receives one reply on a DEALER (blocks up to the socket's rcvtimeo).
int
wire_reply_recv (zsock_t *dealer, uint64_t *seq, int *status, char **body)
{
    *body = NULL;
    zmsg_t *msg = zmsg_recv (dealer);
    if (!msg)
        return -1;
    uint64_t status_u = 0;
    if (zmsg_size (msg) != 4
    ||  !zframe_streq (zmsg_first (msg), "REP")
    ||  s_frame_u64 (zmsg_next (msg), seq)
    ||  s_frame_u64 (zmsg_next (msg), &status_u)
    ||  status_u < 100 || status_u > 599) {
        log_error (NULL, "wire: dropped a malformed reply");
        zmsg_destroy (&msg);
        return -1;
    }
    *status = (int) status_u;
    *body = zframe_strdup (zmsg_next (msg));
    zmsg_destroy (&msg);
    return 0;
}

//  A DEALER connected to one actor, with bounded send and receive.
zsock_t *
wire_dealer_new (const char *pool, int index, int timeout_ms)
{
    char endpoint [128];
    wire_endpoint (pool, index, endpoint, sizeof endpoint);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, timeout_ms);
    zsock_set_rcvtimeo (dealer, timeout_ms);
    if (zsock_connect (dealer, "%s", endpoint)) {
        zsock_destroy (&dealer);
        return NULL;
    }
    return dealer;
}

//  One round trip; replies to earlier, timed-out requests are skipped.
int
wire_call (zsock_t *dealer, const wire_request_t *req, int timeout_ms, int *status,
           char **body)
{
    *body = NULL;
    if (wire_request_send (dealer, req))
        return -1;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return -1;
        zsock_set_rcvtimeo (dealer, (int) left);
        uint64_t seq;
        if (wire_reply_recv (dealer, &seq, status, body)) {
            if (zmq_errno () == EAGAIN || zsys_interrupted)
                return -1;
            continue;       //  malformed: already logged, wait for ours
        }
        if (seq == req->seq)
            return 0;
        zstr_free (body);   //  a late reply to a request we gave up on
    }
}
