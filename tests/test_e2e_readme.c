/*  test_e2e_readme — README.md shows the real `coffee --help`.

    The README copies the help text so a newcomer can read every option
    without building. This test runs the binary this build made and fails
    when the copy and the real output differ, naming the first line that
    differs, so an option added or renamed in core/config.c cannot leave the
    README behind.

    ctest bound: COFFEE_TEST_TIMEOUT 60 s. */
#include "testkit.h"
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The heading the help block follows in README.md.
#define README_HEADING "## Options: `coffee --help`"

//  Reads a whole file into a NUL-terminated buffer (free), or NULL.
static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    size_t cap = 0;
    char chunk [4096];
    size_t n;
    while ((n = fread (chunk, 1, sizeof chunk, f)) > 0) {
        if (size + n + 1 > cap) {
            cap = (size + n + 1) * 2;
            char *bigger = (char *) realloc (text, cap);
            if (!bigger) {
                free (text);
                fclose (f);
                return NULL;
            }
            text = bigger;
        }
        memcpy (text + size, chunk, n);
        size += n;
    }
    fclose (f);
    if (!text)
        text = (char *) calloc (1, 1);
    else
        text [size] = '\0';
    return text;
}

//  The text of the first ``` block after heading in markdown (free), or NULL.
static char *
s_block_after (const char *markdown, const char *heading)
{
    const char *at = strstr (markdown, heading);
    if (!at)
        return NULL;
    const char *open = strstr (at, "\n```");
    if (!open)
        return NULL;
    const char *start = strchr (open + 1, '\n');
    if (!start)
        return NULL;
    start++;
    const char *close = strstr (start, "\n```");
    if (!close)
        return NULL;
    size_t len = (size_t) (close - start) + 1;      //  keep the last newline
    char *block = (char *) malloc (len + 1);
    if (!block)
        return NULL;
    memcpy (block, start, len);
    block [len] = '\0';
    return block;
}

//  Prints the first line where a and b differ, for the failure message.
static void
s_print_first_difference (const char *a, const char *b)
{
    int line = 1;
    const char *la = a;
    const char *lb = b;
    while (*la && *lb) {
        const char *ea = strchr (la, '\n');
        const char *eb = strchr (lb, '\n');
        size_t na = ea ? (size_t) (ea - la) : strlen (la);
        size_t nb = eb ? (size_t) (eb - lb) : strlen (lb);
        if (na != nb || memcmp (la, lb, na) != 0)
            break;
        if (!ea || !eb)
            break;
        la = ea + 1;
        lb = eb + 1;
        line++;
    }
    fprintf (stderr, "first difference at line %d of the help text:\n"
                     "  README : %.*s\n  coffee : %.*s\n", line,
             (int) strcspn (la, "\n"), la, (int) strcspn (lb, "\n"), lb);
}

//  README's help block equals what `coffee --help` prints.
static void
test_readme_help_is_the_real_one (void **state)
{
    (void) state;
    char *dir = tk_tempdir ("readme");
    assert_non_null (dir);
    char out_path [600];
    snprintf (out_path, sizeof out_path, "%s/help.txt", dir);
    const char *argv [] = { COFFEE_BIN, "--help", NULL };
    pid_t pid = tk_spawn (argv, out_path);
    assert_true (pid > 0);
    int status = tk_wait (pid, 30000);
    char *real = s_slurp (out_path);
    char *readme = s_slurp (COFFEE_SOURCE_DIR "/README.md");
    char *copy = readme ? s_block_after (readme, README_HEADING) : NULL;
    bool same = real && copy && strcmp (real, copy) == 0;
    if (!same && real && copy)
        s_print_first_difference (copy, real);
    if (!copy)
        fprintf (stderr, "README.md has no ``` block after \"%s\"\n", README_HEADING);
    free (copy);
    free (readme);
    free (real);
    unlink (out_path);
    rmdir (dir);
    free (dir);
    assert_int_equal (status, 0);
    assert_true (same);
}

//  The comparison above can fail: a README with one option renamed does.
static void
test_a_drifted_copy_is_caught (void **state)
{
    (void) state;
    const char *doc = "intro\n" README_HEADING "\n\n```\nline one\n  --port N\n```\nafter\n";
    char *copy = s_block_after (doc, README_HEADING);
    assert_non_null (copy);
    assert_string_equal (copy, "line one\n  --port N\n");
    assert_true (strcmp (copy, "line one\n  --listen-port N\n") != 0);
    free (copy);
    assert_null (s_block_after ("no heading here\n```\nx\n```\n", README_HEADING));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_readme_help_is_the_real_one),
        cmocka_unit_test (test_a_drifted_copy_is_caught),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
