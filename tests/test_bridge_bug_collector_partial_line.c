/*  test_bridge_bug_collector_partial_line — reproducer of a bug the fault
    matrix found (scripts/faults/fs-full.sh: one acknowledged order never
    reached the collector after the data dir's disk was full for 10 s). The
    file collector appended with stdio; when the disk filled mid-line, part
    of the line was in the file and the rest in stdio's buffer, and the
    retry glued the whole line onto that fragment: the event was in the file
    but in no line a reader could parse.

    The disk filling is played by RLIMIT_FSIZE (writes past it fail with
    EFBIG once SIGXFSZ is ignored): the limit ends inside the second line,
    delivery must fail; the limit is lifted, the retry must succeed; and the
    file must then hold exactly the two lines, each whole JSON.

    The sink appends a turn's lines and fsyncs them once (collector_append,
    collector_flush): the same must hold for a batch. The limit ends inside
    the third line of a batch: that append fails, the flush says none of
    the batch is delivered, and the file is cut back to the line before the
    batch; the batch again, with room, leaves every line whole, once.

    ctest bound: COFFEE_TEST_TIMEOUT 120 s. */
#include "testkit.h"
#include <cmocka.h>
#include "coffee.h"
#include "collector.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

//  The event bodies (one line each).
#define S_FIRST  "{\"orderNo\":\"ORD-00000001\",\"payAmt\":4200}"
#define S_SECOND "{\"orderNo\":\"ORD-00000002\",\"customerId\":\"CUST-00000001\",\"payAmt\":8400}"

//  A file collector on dir/collector.jsonl (its path in path) that holds
//  S_FIRST, delivered.
static collector_t *
s_collector_open (const char *dir, char *path, size_t len)
{
    char *argv [] = { "test", "--data-dir", (char *) dir, NULL };
    config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    char err [256] = "";
    assert_int_equal (config_load (&cfg, 3, argv, err, sizeof err), 0);
    snprintf (path, len, "%s/collector.jsonl", dir);
    snprintf (cfg.collector_url, sizeof cfg.collector_url, "file:%s", path);
    collector_t *collector = collector_new (&cfg, err, sizeof err);
    assert_non_null (collector);
    assert_int_equal (collector_deliver (collector, "ORD-00000001", S_FIRST, strlen (S_FIRST),
                                         1000), 0);
    return collector;
}

static void
test_bug_collector_partial_line (void **state)
{
    char *dir = tk_tempdir ("bug-collector");
    assert_non_null (dir);
    char path [700];
    collector_t *collector = s_collector_open (dir, path, sizeof path);

    //  The "disk" ends 10 bytes into the second line
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit old_limit, limit;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = strlen (S_FIRST) + 1 + 10;
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &limit), 0);
    assert_int_equal (collector_deliver (collector, "ORD-00000002", S_SECOND, strlen (S_SECOND),
                                         1000), -1);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &old_limit), 0);
    //  Space again: the retry is delivered
    assert_int_equal (collector_deliver (collector, "ORD-00000002", S_SECOND, strlen (S_SECOND),
                                         1000), 0);
    collector_destroy (&collector);

    FILE *file = fopen (path, "r");
    assert_non_null (file);
    char line [512];
    int lines = 0;
    const char *expect [] = { S_FIRST, S_SECOND };
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\n")] = 0;
        assert_true (lines < 2);
        assert_string_equal (line, expect [lines]);
        cJSON *json = cJSON_Parse (line);
        assert_non_null (json);
        cJSON_Delete (json);
        lines++;
    }
    fclose (file);
    assert_int_equal (lines, 2);
    free (dir);
}

//  The lines of path, each checked to be whole JSON; returns the count.
static int
s_lines (const char *path, char lines [][512], int max)
{
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    int count = 0;
    char line [512];
    while (fgets (line, sizeof line, file)) {
        assert_non_null (strchr (line, '\n'));
        line [strcspn (line, "\n")] = 0;
        cJSON *json = cJSON_Parse (line);
        assert_non_null (json);
        cJSON_Delete (json);
        assert_true (count < max);
        snprintf (lines [count++], 512, "%s", line);
    }
    fclose (file);
    return count;
}

static void
test_batch_cut_back_whole (void **state)
{
    char *dir = tk_tempdir ("bug-collector-batch");
    assert_non_null (dir);
    char path [700];
    collector_t *collector = s_collector_open (dir, path, sizeof path);
    const char *batch [3] = {
        "{\"orderNo\":\"ORD-00000002\"}", "{\"orderNo\":\"ORD-00000003\"}",
        "{\"orderNo\":\"ORD-00000004\",\"payAmt\":4200}"
    };
    //  Room for the first line, the batch's first two and 5 bytes more;
    //  stdio writes when its buffer fills or at the flush, so the failure
    //  may come at the third append or at the flush
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit old_limit, limit;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = strlen (S_FIRST) + 1 + strlen (batch [0]) + 1 + strlen (batch [1]) + 1 + 5;
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &limit), 0);
    int appended = 0;
    for (int i = 0; i < 3; i++)
        if (collector_append (collector, batch [i], batch [i], strlen (batch [i]), 1000) == 0)
            appended++;
    assert_int_equal (collector_flush (collector), -1);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &old_limit), 0);
    assert_true (appended >= 2);
    char lines [8][512];
    assert_int_equal (s_lines (path, lines, 8), 1);        //  cut back to before the batch
    assert_string_equal (lines [0], S_FIRST);
    //  The batch again, with room: every line once, whole, in order
    for (int i = 0; i < 3; i++)
        assert_int_equal (collector_append (collector, batch [i], batch [i], strlen (batch [i]),
                                            1000), 0);
    assert_int_equal (collector_flush (collector), 0);
    assert_int_equal (collector_flush (collector), 0);     //  nothing more to flush
    collector_destroy (&collector);
    assert_int_equal (s_lines (path, lines, 8), 4);
    for (int i = 0; i < 3; i++)
        assert_string_equal (lines [i + 1], batch [i]);
    free (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bug_collector_partial_line),
        cmocka_unit_test (test_batch_cut_back_whole),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
