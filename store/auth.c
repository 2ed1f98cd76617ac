/*  auth — customers' bearer tokens in the command store: each customer
    holds at most one, kept as its hash (token.h), so that every instance
    checks the same credentials and a new token replaces the old one for all
    of them the moment it commits. */
#include "store_impl.h"
#include "token.h"
#include <sodium.h>

static const char SQL_TOKEN_OF [] =
    "SELECT token_hash FROM customer WHERE customer_id = ?";
static const char SQL_TOKEN_HOLDER [] =
    "SELECT customer_id FROM customer WHERE token_hash = ?";
static const char SQL_TOKEN_SET [] =
    "UPDATE customer SET token_hash = ? WHERE customer_id = ?";

//  Whether a customer holds the token of hash: DB_ROW (it does), DB_DONE
//  (it does not, or there is no such customer) or a failure code. The
//  hashes are compared in constant time.
static int
s_holds (db_t *db, const char *customer_id, const char *hash)
{
    db_stmt_t *st = db_stmt (db, SQL_TOKEN_OF);
    int rc = st? db_bind_text (st, 1, customer_id): DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    if (rc == DB_ROW)
        rc = !db_column_is_null (st, 0) && token_hash_equal (db_column_text (st, 0), hash)
           ? DB_ROW: DB_DONE;
    db_reset (st);
    return rc;
}

//  Whether any customer holds the token of hash: DB_ROW, DB_DONE or a
//  failure code.
static int
s_issued (db_t *db, const char *hash)
{
    db_stmt_t *st = db_stmt (db, SQL_TOKEN_HOLDER);
    int rc = st? db_bind_text (st, 1, hash): DB_ERROR;
    if (rc == DB_OK)
        rc = db_step (st);
    db_reset (st);
    return rc;
}

//  May auth act for customer_id? A customer token must be the one that
//  customer holds now; a token no customer holds is 401, one another
//  customer holds is 403 (also when customer_id does not exist, so a
//  token never learns which customers exist).
int
store_auth_check (store_t *self, const store_auth_t *auth, const char *customer_id,
                  store_reply_t *reply)
{
    if (!auth || auth->mode == STORE_AUTH_OPEN || auth->mode == STORE_AUTH_ADMIN)
        return 0;
    const char *hash = auth->token_hash;
    if (!hash || strlen (hash) != TOKEN_HASH_HEX)
        return store_reply_result (reply, STORE_RESULT_UNAUTHORIZED) == 0? 1: -1;
    int rc = customer_id && *customer_id? s_holds (self->db, customer_id, hash): DB_DONE;
    if (rc == DB_ROW)
        return 0;
    if (rc != DB_DONE)
        return -1;
    rc = s_issued (self->db, hash);
    if (rc != DB_ROW && rc != DB_DONE)
        return -1;
    store_result_t result = rc == DB_ROW? STORE_RESULT_FORBIDDEN: STORE_RESULT_UNAUTHORIZED;
    return store_reply_result (reply, result) == 0? 1: -1;
}

//  Is auth a credential at all? A customer token no customer holds is
//  401; any token a customer holds, the admin's and OPEN pass.
int
store_auth_known (store_t *self, const store_auth_t *auth, store_reply_t *reply)
{
    if (!auth || auth->mode == STORE_AUTH_OPEN || auth->mode == STORE_AUTH_ADMIN)
        return 0;
    int rc = auth->token_hash && strlen (auth->token_hash) == TOKEN_HASH_HEX
           ? s_issued (self->db, auth->token_hash): DB_DONE;
    if (rc == DB_ROW)
        return 0;
    if (rc != DB_DONE)
        return -1;
    return store_reply_result (reply, STORE_RESULT_UNAUTHORIZED) == 0? 1: -1;
}

//  Writes the hash of token as customer_id's token: DB_DONE with
//  db_changes 1, 0 when there is no such customer, or a failure code.
int
store_token_set (db_t *db, const char *customer_id, const char *token)
{
    char hash [TOKEN_HASH_MAX];
    token_hash (token, strlen (token), hash);
    db_stmt_t *st = db_stmt (db, SQL_TOKEN_SET);
    int rc = DB_ERROR;
    if (st && db_bind_text (st, 1, hash) == DB_OK && db_bind_text (st, 2, customer_id) == DB_OK)
        rc = db_step (st);
    db_reset (st);
    sodium_memzero (hash, sizeof hash);
    return rc;
}

//  The answer that hands a token out: {"customerId","token"} ("token"
//  left out when NULL: a customer only the admin acts for).
int
store_reply_token (store_reply_t *reply, const char *customer_id, const char *token)
{
    cJSON *json = cJSON_CreateObject ();
    if (!json)
        return -1;
    cJSON_AddStringToObject (json, "customerId", customer_id);
    if (token)
        cJSON_AddStringToObject (json, "token", token);
    return store_reply_done (reply, json);
}

//  POST /customer/{customerId}/token.
int
store_token_issue (store_t *self, const char *customer_id, const store_auth_t *auth,
                   const char *token, int64_t now_ms, store_reply_t *reply)
{
    reply->status = 0;
    reply->body = NULL;
    if (!store_valid_id (customer_id))
        return store_op_invalid (self, "token issue", STORE_WHY_CUSTOMER_ID, reply);
    if (!token_well_formed (token))
        return store_op_invalid (self, "token issue", STORE_WHY_NONE, reply);
    store_op_t op;
    int rc = store_op_start (self, &op, auth, customer_id, NULL, now_ms, "token issue", reply);
    if (rc != STORE_IDEM_RUN)
        return rc < 0? -1: 0;
    rc = store_token_set (self->db, customer_id, token);
    if (rc != DB_DONE)
        return store_op_fail (self, &op, "token issue", reply);
    if (db_changes (self->db) == 0)
        rc = store_reply_not_found (reply, STORE_ABOUT_CUSTOMER, NULL);
    else
        rc = store_reply_token (reply, customer_id, token);
    if (rc != 0)
        return store_op_fail (self, &op, "token issue", reply);
    return store_op_finish (self, &op, NULL, now_ms, "token issue", reply);
}
