/*  test_core_log — log lines and the HTTP threads' log batch, written to a
    real file through log_open: the line's form (stamp, level, request id,
    newlines replaced, long messages cut), stamps that stay true across
    second boundaries though the date and time are formatted once a second,
    a batch that writes nothing until it is flushed or full, whole lines
    when it fills, and log_batch_due's clock.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "coffee.h"
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

//  The file stderr goes to, and the descriptor stderr had before.
typedef struct {
    char path [64];
    int saved;
} log_fixture_t;

static int
s_setup (void **state)
{
    log_fixture_t *self = (log_fixture_t *) calloc (1, sizeof (log_fixture_t));
    assert_non_null (self);
    snprintf (self->path, sizeof self->path, "/tmp/test-core-log-XXXXXX");
    int fd = mkstemp (self->path);
    assert_true (fd >= 0);
    close (fd);
    self->saved = dup (STDERR_FILENO);
    assert_int_equal (log_open (self->path), 0);
    log_set_level (LOG_LEVEL_INFO);
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    log_fixture_t *self = (log_fixture_t *) *state;
    dup2 (self->saved, STDERR_FILENO);
    close (self->saved);
    unlink (self->path);
    free (self);
    return 0;
}

//  The file's whole text (free it), and empties the file.
static char *
s_take (log_fixture_t *self)
{
    FILE *file = fopen (self->path, "r");
    assert_non_null (file);
    char *text = (char *) calloc (1, 1 << 20);
    assert_non_null (text);
    size_t len = fread (text, 1, (1 << 20) - 1, file);
    text [len] = '\0';
    fclose (file);
    assert_int_equal (ftruncate (STDERR_FILENO, 0), 0);
    return text;
}

//  Lines in text.
static int
s_lines (const char *text)
{
    int count = 0;
    for (const char *p = text; *p; p++)
        count += *p == '\n';
    return count;
}

//  Checks that line (up to its newline) is "<stamp> <level> rid=<rid> <message>"
//  with a stamp between from_ms and to_ms; returns the message's start.
static const char *
s_check_line (const char *line, const char *level, const char *rid, int64_t from_ms,
              int64_t to_ms)
{
    char stamp [UTIL_ISO_MAX];
    const char *space = strchr (line, ' ');
    assert_non_null (space);
    assert_true ((size_t) (space - line) < sizeof stamp);
    memcpy (stamp, line, space - line);
    stamp [space - line] = '\0';
    int64_t ms = 0;
    assert_int_equal (util_parse_iso8601 (stamp, &ms), 0);
    assert_true (ms >= from_ms);
    assert_true (ms <= to_ms);
    char head [128];
    snprintf (head, sizeof head, " %-5s rid=%s ", level, rid);
    assert_memory_equal (space, head, strlen (head));
    return space + strlen (head);
}

//  log_line: one whole line per call, at once, with the given request id
//  or "-", newlines in the message replaced; lines below the level are
//  not written.
static void
test_line (void **state)
{
    log_fixture_t *self = (log_fixture_t *) *state;
    int64_t from = util_now_ms (0);
    log_info ("r-1", "charged %d points\nfor %s", 500, "CUST-00000001");
    log_warn (NULL, "plain");
    log_debug ("r-2", "not at this level");
    int64_t to = util_now_ms (0);
    char *text = s_take (self);
    assert_int_equal (s_lines (text), 2);
    const char *message = s_check_line (text, "INFO", "r-1", from, to);
    assert_memory_equal (message, "charged 500 points for CUST-00000001\n", 37);
    const char *second = strchr (text, '\n') + 1;
    message = s_check_line (second, "WARN", "-", from, to);
    assert_string_equal (message, "plain\n");
    free (text);
}

//  A batch writes nothing until it is flushed; its lines keep their
//  order; log_batch_text takes the message as it is, and cuts one that
//  would not fit a line.
static void
test_batch_waits_for_flush (void **state)
{
    log_fixture_t *self = (log_fixture_t *) *state;
    log_batch_t *batch = (log_batch_t *) calloc (1, sizeof (log_batch_t));
    assert_non_null (batch);
    int64_t from = util_now_ms (0);
    log_batch_text (batch, LOG_LEVEL_INFO, "r-a", "GET /health 200 0.1ms");
    log_batch_line (batch, LOG_LEVEL_WARN, "r-b", "%s %d", "queue full", 64);
    log_batch_text (batch, LOG_LEVEL_INFO, NULL, "two\r\nlines");
    log_batch_text (batch, LOG_LEVEL_DEBUG, "r-c", "not at this level");
    char long_text [LOG_LINE_MAX * 2];
    memset (long_text, 'x', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = '\0';
    log_batch_text (batch, LOG_LEVEL_INFO, "r-d", long_text);
    int64_t to = util_now_ms (0);
    char *text = s_take (self);
    assert_string_equal (text, "");
    free (text);

    log_batch_flush (batch);
    assert_int_equal (batch->len, 0);
    text = s_take (self);
    assert_int_equal (s_lines (text), 4);
    const char *line = text;
    const char *message = s_check_line (line, "INFO", "r-a", from, to);
    assert_memory_equal (message, "GET /health 200 0.1ms\n", 22);
    line = strchr (line, '\n') + 1;
    message = s_check_line (line, "WARN", "r-b", from, to);
    assert_memory_equal (message, "queue full 64\n", 14);
    line = strchr (line, '\n') + 1;
    message = s_check_line (line, "INFO", "-", from, to);
    assert_memory_equal (message, "two  lines\n", 11);
    line = strchr (line, '\n') + 1;
    message = s_check_line (line, "INFO", "r-d", from, to);
    size_t line_len = (size_t) (strchr (line, '\n') - line) + 1;
    assert_true (line_len <= LOG_LINE_MAX);
    assert_true (strspn (message, "x") > LOG_LINE_MAX / 2);
    free (text);
    free (batch);
}

//  A batch that cannot take the next line writes what it holds first:
//  every line arrives whole, none twice, in order.
static void
test_batch_full_writes_whole_lines (void **state)
{
    log_fixture_t *self = (log_fixture_t *) *state;
    log_batch_t *batch = (log_batch_t *) calloc (1, sizeof (log_batch_t));
    assert_non_null (batch);
    const int count = 1000;                 //  about six batches' worth
    for (int i = 0; i < count; i++) {
        char message [64];
        snprintf (message, sizeof message, "GET /display/best 200 0.%dms #%05d", i % 10, i);
        log_batch_text (batch, LOG_LEVEL_INFO, "r-full", message);
        assert_true (batch->len <= sizeof batch->data);
    }
    char *text = s_take (self);
    int written = s_lines (text);
    assert_true (written > 0);              //  it filled, so it wrote
    assert_true (written < count);          //  and kept what came after
    free (text);
    log_batch_flush (batch);
    text = s_take (self);
    assert_int_equal (written + s_lines (text), count);
    free (text);
    free (batch);
}

//  log_batch_due: -1 while empty; from the first line, the time left of
//  LOG_BATCH_MS, then 0; a flush empties it again.
static void
test_batch_due (void **state)
{
    (void) state;
    log_batch_t *batch = (log_batch_t *) calloc (1, sizeof (log_batch_t));
    assert_non_null (batch);
    assert_int_equal (log_batch_due (batch, zclock_mono ()), -1);
    int64_t before = zclock_mono ();
    log_batch_text (batch, LOG_LEVEL_INFO, "r-due", "first");
    int64_t after = zclock_mono ();
    int64_t left = log_batch_due (batch, after);
    assert_true (left <= LOG_BATCH_MS);
    assert_true (left >= LOG_BATCH_MS - (after - before));
    //  A later line does not move the oldest line's due time.
    zclock_sleep (5);
    log_batch_text (batch, LOG_LEVEL_INFO, "r-due", "second");
    assert_true (log_batch_due (batch, zclock_mono ()) <= LOG_BATCH_MS - 5);
    assert_int_equal (log_batch_due (batch, before + LOG_BATCH_MS), 0);
    assert_int_equal (log_batch_due (batch, after + LOG_BATCH_MS * 10), 0);
    //  A line below the level adds nothing, so nothing comes due.
    log_batch_flush (batch);
    log_batch_text (batch, LOG_LEVEL_DEBUG, "r-due", "not at this level");
    assert_int_equal (log_batch_due (batch, zclock_mono ()), -1);
    log_batch_flush (batch);
    free (batch);
}

//  Stamps are formatted once a second and patched with the milliseconds:
//  over more than two second boundaries every stamp lies between the
//  clock read before and after its line.
static void
test_stamps_across_seconds (void **state)
{
    log_fixture_t *self = (log_fixture_t *) *state;
    log_batch_t *batch = (log_batch_t *) calloc (1, sizeof (log_batch_t));
    assert_non_null (batch);
    int64_t start = util_now_ms (0);
    int lines = 0;
    while (util_now_ms (0) < start + 2300) {
        int64_t from = util_now_ms (0);
        if (lines % 2)
            log_info ("r-stamp", "line %d", lines);
        else {
            log_batch_text (batch, LOG_LEVEL_INFO, "r-stamp", "batched");
            log_batch_flush (batch);
        }
        int64_t to = util_now_ms (0);
        char *text = s_take (self);
        assert_int_equal (s_lines (text), 1);
        s_check_line (text, "INFO", "r-stamp", from, to);
        free (text);
        lines++;
        zclock_sleep (7);
    }
    assert_true (lines > 100);
    free (batch);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_waits_for_flush, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_full_writes_whole_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_due, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_stamps_across_seconds, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
