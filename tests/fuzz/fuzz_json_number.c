/*  fuzz_json_number — the JSON number and time rules every reader shares:
    util_json_int64 on every number of a parsed document, util_parse_iso8601
    on every string. Promises: an int64 accepted is exactly the double cJSON
    read and below 2^53 in magnitude; a stamp accepted formats back to the
    same text when it was written in util_iso8601's form. */
#include "coffee.h"
#include "fuzzkit.h"
#include <math.h>

//  Checks one item and, depth first, its children (bounded by cJSON's own
//  nesting limit).
static void
s_walk (const cJSON *item)
{
    for (; item; item = item->next) {
        int64_t v = 0;
        if (util_json_int64 (item, &v) == 0) {
            FK_CHECK (cJSON_IsNumber (item));
            FK_CHECK ((double) v == item->valuedouble);
            FK_CHECK (v < (INT64_C (1) << 53) && v > -(INT64_C (1) << 53));
        }
        if (cJSON_IsString (item) && item->valuestring) {
            int64_t ms = 0;
            if (util_parse_iso8601 (item->valuestring, &ms) == 0) {
                char back [UTIL_ISO_MAX];
                util_iso8601 (ms, back);
                //  A stamp that parsed is the canonical form unless its
                //  fields were out of range (strptime normalises those)
                if (strlen (item->valuestring) == 24 && ms >= 0 && ms < INT64_C (253402300800000)) {
                    int64_t again = 0;
                    FK_CHECK (util_parse_iso8601 (back, &again) == 0 && again == ms);
                }
            }
        }
        s_walk (item->child);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    cJSON *root = cJSON_ParseWithLength ((const char *) data, size);
    s_walk (root);
    cJSON_Delete (root);
    int64_t none = 0;
    FK_CHECK (util_json_int64 (NULL, &none) == -1);
    return 0;
}
