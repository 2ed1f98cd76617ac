/*  answer — domain results to API answers, as one table. See answer.h. */
#include "coffee.h"
#include "answer.h"

//  One row per result: the status and code it answers with, and its
//  message (printf format taking the shortfall for NO_POINT).
typedef struct {
    int status;                 //  HTTP status
    const char *code;           //  error code, NULL for DONE and REPLAY
    const char *message;        //  message, NULL when about or why picks it
} s_result_row_t;

static const s_result_row_t s_results [STORE_RESULT_COUNT] = {
    [STORE_RESULT_NONE]        = { 500, "INTERNAL", "internal error" },
    [STORE_RESULT_DONE]        = { 200, NULL, NULL },
    [STORE_RESULT_REPLAY]      = { 0, NULL, NULL },
    [STORE_RESULT_NOT_FOUND]   = { 404, "NOT_FOUND_DATA", NULL },
    [STORE_RESULT_NO_POINT]    = { 409, "NO_POINT",
                                   "%" PRId64 " 포인트가 부족합니다. 포인트 충전 후 다시 이용해주세요" },
    [STORE_RESULT_KEY_IN_USE]  = { 409, "IDEMPOTENCY_KEY_IN_USE",
                                   "a request with this Idempotency-Key is still running" },
    [STORE_RESULT_KEY_REUSED]  = { 422, "IDEMPOTENCY_KEY_REUSED",
                                   "this Idempotency-Key was used with a different request" },
    [STORE_RESULT_INVALID]     = { 400, "INVALID_INPUT", NULL },
    [STORE_RESULT_UNAVAILABLE] = { 503, "UNAVAILABLE",
                                   "the store is unavailable; nothing was changed, try again" },
    [STORE_RESULT_TIMEOUT]     = { 503, "TIMEOUT",
                                   "the request waited past its deadline; nothing was changed,"
                                   " try again" },
    [STORE_RESULT_UNAUTHORIZED] = { 401, "UNAUTHORIZED",
                                   "Authorization: send Bearer <token> with a token this"
                                   " service issued and has not replaced" },
    [STORE_RESULT_FORBIDDEN]   = { 403, "FORBIDDEN",
                                   "this token may act only for its own customer" },
};

//  The message of each NOT_FOUND.
static const char *const s_not_found [STORE_ABOUT_COUNT] = {
    [STORE_ABOUT_NONE]     = "요청하신 정보 이/가 존재하지 않습니다.",
    [STORE_ABOUT_CUSTOMER] = "해당 고객 정보 이/가 존재하지 않습니다.",
    [STORE_ABOUT_MENU]     = "해당 메뉴 정보 이/가 존재하지 않습니다.",
    [STORE_ABOUT_ORDER]    = "해당 주문 정보 이/가 존재하지 않습니다.",
};

//  The field and message of each INVALID.
static const struct {
    const char *field;          //  the request field at fault
    const char *message;        //  what is wrong with it
} s_invalid [STORE_WHY_COUNT] = {
    [STORE_WHY_NONE]        = { "body", "the request is not valid" },
    [STORE_WHY_CUSTOMER_ID] = { "customerId", "customerId: must be a customer id" },
    [STORE_WHY_NAME]        = { "customerNm", "customerNm: must be 1 to 100 bytes of text" },
    [STORE_WHY_AMOUNT]      = { "chargeAmt",
                                "chargeAmt: must be a whole number from 1 to 1000000000" },
    [STORE_WHY_BALANCE_MAX] = { "chargeAmt", "chargeAmt: the balance would exceed the maximum" },
    [STORE_WHY_LINES]       = { "menuList", "menuList: must hold 1 to 20 entries" },
    [STORE_WHY_MENU_ID]     = { "menuList", "menuList: menuId must be a menu id" },
    [STORE_WHY_QY]          = { "menuList", "menuList: qy must be a whole number from 1 to 100" },
    [STORE_WHY_QY_TOTAL]    = { "menuList",
                                "menuList: qy of one menu must be at most 100 in total" },
    [STORE_WHY_PRICE_MAX]   = { "menuList", "menuList: the order price would exceed the maximum" },
};

//  Fills status and body from the result (see answer.h).
int
answer_fill (store_reply_t *reply)
{
    store_result_t result = reply->result;
    if (result < 0 || result >= STORE_RESULT_COUNT)
        result = STORE_RESULT_NONE;
    if (result == STORE_RESULT_REPLAY)
        return reply->body ? 0 : -1;
    const s_result_row_t *row = &s_results [result];
    reply->status = row->status;
    if (result == STORE_RESULT_DONE)
        return reply->body ? 0 : -1;
    zstr_free (&reply->body);
    char message [256];
    const char *text = row->message;
    cJSON *json = cJSON_CreateObject ();
    if (!json)
        return -1;
    if (result == STORE_RESULT_NOT_FOUND) {
        store_about_t about = reply->about < STORE_ABOUT_COUNT ? reply->about : STORE_ABOUT_NONE;
        text = s_not_found [about];
    }
    else
    if (result == STORE_RESULT_NO_POINT) {
        snprintf (message, sizeof message, row->message, reply->shortfall);
        text = message;
    }
    else
    if (result == STORE_RESULT_INVALID) {
        store_why_t why = reply->why < STORE_WHY_COUNT ? reply->why : STORE_WHY_NONE;
        text = s_invalid [why].message;
    }
    cJSON_AddStringToObject (json, "code", row->code);
    cJSON_AddStringToObject (json, "message", text);
    if (result == STORE_RESULT_NOT_FOUND && reply->about == STORE_ABOUT_MENU)
        cJSON_AddStringToObject (json, "menuId", reply->menu_id);
    if (result == STORE_RESULT_NO_POINT) {
        //  Exact int64 (cJSON numbers are doubles): added as raw text.
        char number [24];
        snprintf (number, sizeof number, "%" PRId64, reply->shortfall);
        cJSON_AddRawToObject (json, "shortfall", number);
    }
    if (result == STORE_RESULT_INVALID) {
        store_why_t why = reply->why < STORE_WHY_COUNT ? reply->why : STORE_WHY_NONE;
        cJSON_AddStringToObject (json, "field", s_invalid [why].field);
    }
    char *printed = cJSON_PrintUnformatted (json);
    cJSON_Delete (json);
    if (!printed)
        return -1;
    reply->body = strdup (printed);
    cJSON_free (printed);
    return reply->body ? 0 : -1;
}

//  Sets a result without details and fills the reply.
int
answer_set (store_reply_t *reply, store_result_t result)
{
    reply->result = result;
    reply->about = STORE_ABOUT_NONE;
    reply->why = STORE_WHY_NONE;
    reply->shortfall = 0;
    reply->menu_id [0] = 0;
    return answer_fill (reply);
}
