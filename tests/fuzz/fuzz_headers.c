/*  fuzz_headers — the request headers the front reads: Idempotency-Key
    (request_validate_idem), X-Request-Id (request_rid_ok, whose answer is
    echoed back as a response header and logged) and Content-Type
    (request_media_type_json). The value is the whole input, as MHD hands it
    over: NUL-terminated. Promises: an accepted request id is 1..64 bytes of
    [A-Za-z0-9._-] (safe in a header and a log line); an accepted key is at
    most REQUEST_IDEM_MAX bytes; a refused key is a 400 with a JSON body. */
#include "coffee.h"
#include "request.h"
#include "fuzzkit.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *value = fk_cstr (data, size);
    if (request_rid_ok (value)) {
        size_t len = strlen (value);
        FK_CHECK (len >= 1 && len <= REQUEST_RID_MAX);
        FK_CHECK (strspn (value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789._-") == len);
    }
    char *error = NULL;
    int status = request_validate_idem (value, &error);
    if (status == 200) {
        FK_CHECK (!error && strlen (value) <= REQUEST_IDEM_MAX);
        for (const char *p = value; *p; p++)
            FK_CHECK ((unsigned char) *p >= 0x20 && (unsigned char) *p != 0x7f);
    }
    else {
        FK_CHECK (status == 400 && error);
        cJSON *parsed = cJSON_Parse (error);
        FK_CHECK (cJSON_IsObject (parsed));
        cJSON_Delete (parsed);
        free (error);
    }
    (void) request_media_type_json (value);
    free (value);
    return 0;
}
