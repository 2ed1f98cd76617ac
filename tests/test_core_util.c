/*  test_core_util — util_iso8601 against the C library's gmtime_r, over
    dates before and after the epoch, and its round trip through
    util_parse_iso8601.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "coffee.h"
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

//  Every 2 days 8 hours and 12.345 s from 1967 to 2270: the civil date
//  arithmetic agrees with gmtime_r and reads back to the same ms.
static void
test_iso8601_matches_gmtime (void **state)
{
    char ours [UTIL_ISO_MAX], theirs [96];      //  theirs: room for any int the compiler can imagine
    int checked = 0;
    for (int64_t ms = -86400000LL * 1000; ms < 86400000LL * 365 * 300;
         ms += 86400000LL * 7 / 3 + 12345) {
        util_iso8601 (ms, ours);
        int64_t secs = ms >= 0? ms / 1000: (ms - 999) / 1000;
        time_t t = (time_t) secs;
        struct tm tm;
        assert_non_null (gmtime_r (&t, &tm));
        snprintf (theirs, sizeof theirs, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, (int) (ms - secs * 1000));
        assert_string_equal (ours, theirs);
        int64_t back = 0;
        assert_int_equal (util_parse_iso8601 (ours, &back), 0);
        assert_true (back == ms);
        checked++;
    }
    assert_true (checked > 40000);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_iso8601_matches_gmtime),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
