/*  reconcile — `coffee reconcile [--repair] [--window-hours H] [serve options]`.

    Compares, per menu, the orders containing it in (now - H hours, now]
    as the command store counts them (order lines, the truth) and as the
    display store counts them (ordered-menu rows). Prints one line per menu
        MENU-00000001 command=12 display=12 diff=0
    and a summary line; exits 0 when every menu agrees, 1 on drift, 2 on a
    usage or store error. With --repair, a drifting window is rebuilt in the
    display store from the command store's orders (display_store_repair) and
    compared again: exit 0 when that fixed it.

    Menus too: every menu of the command store (the owner) against the
    display store's copy (name, price, useYn, version), a line per menu
    that differs or is missing on either side
        menu MENU-00000006 command=v3 N 5500 "라떼" display=v2 Y 5500 "카페 라떼"
    and a summary line; drift there counts as drift. --repair makes the
    display menus exactly the command store's (display_store_menus_repair).

    Argument handling: --repair and --window-hours H (or --window-hours=H)
    are taken out first; everything else goes to config_load as serve
    options (--data-dir, --store, --display-store, --clock-skew-ms, …). */
#include "bridge.h"
#include "store.h"
#include "display_store.h"

#define RECONCILE_HOURS_DEFAULT  168         //  the popular-menu window
#define RECONCILE_HOURS_MAX      (24 * 3660) //  about ten years

//  One menu's two counts.
typedef struct {
    char menu_id [COFFEE_ID_MAX];   //  "MENU-00000001"
    int64_t command;                //  orders in the command store
    int64_t display;                //  orders in the display store
} reconcile_row_t;

//  Orders rows by menu id.
static int
s_row_cmp (const void *a, const void *b)
{
    return strcmp (((const reconcile_row_t *) a)->menu_id,
                   ((const reconcile_row_t *) b)->menu_id);
}

//  Finds or adds menu_id in rows (capacity cap). NULL when full.
static reconcile_row_t *
s_row_find (reconcile_row_t *rows, size_t *count, size_t cap, const char *menu_id)
{
    for (size_t i = 0; i < *count; i++)
        if (streq (rows [i].menu_id, menu_id))
            return &rows [i];
    if (*count == cap)
        return NULL;
    reconcile_row_t *row = &rows [(*count)++];
    memset (row, 0, sizeof *row);
    snprintf (row->menu_id, sizeof row->menu_id, "%s", menu_id);
    return row;
}

//  Compares both stores over (from_ms, to_ms], printing a line per menu
//  when verbose. Returns the number of drifting menus, or -1 on a store error.
static int
s_compare (store_t *store, display_store_t *display, int64_t from_ms, int64_t to_ms,
           bool verbose)
{
    store_count_t *cmd = NULL, *disp = NULL;
    size_t cmd_count = 0, disp_count = 0;
    reconcile_row_t *rows = NULL;
    int drift = -1;
    if (store_order_menu_counts (store, from_ms, to_ms, &cmd, &cmd_count) != 0) {
        fprintf (stderr, "reconcile: the command store could not count orders\n");
        goto done;
    }
    if (display_store_counts (display, from_ms, to_ms, &disp, &disp_count) != 0) {
        fprintf (stderr, "reconcile: the display store could not count orders\n");
        goto done;
    }
    size_t cap = cmd_count + disp_count, count = 0;
    rows = (reconcile_row_t *) calloc (cap ? cap : 1, sizeof (reconcile_row_t));
    if (!rows)
        goto done;
    for (size_t i = 0; i < cmd_count; i++) {
        reconcile_row_t *row = s_row_find (rows, &count, cap, cmd [i].menu_id);
        row->command += cmd [i].count;
    }
    for (size_t i = 0; i < disp_count; i++) {
        reconcile_row_t *row = s_row_find (rows, &count, cap, disp [i].menu_id);
        row->display += disp [i].count;
    }
    qsort (rows, count, sizeof (reconcile_row_t), s_row_cmp);
    drift = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t diff = rows [i].display - rows [i].command;
        if (diff)
            drift++;
        if (verbose)
            printf ("%s command=%" PRId64 " display=%" PRId64 " diff=%" PRId64 "\n",
                    rows [i].menu_id, rows [i].command, rows [i].display, diff);
    }
    if (verbose) {
        char from [UTIL_ISO_MAX], to [UTIL_ISO_MAX];
        printf ("reconcile: window (%s, %s], %zu menus, %d drifting: %s\n",
                util_iso8601 (from_ms, from), util_iso8601 (to_ms, to), count, drift,
                drift ? "DRIFT" : "OK");
    }
done:
    free (cmd);
    free (disp);
    free (rows);
    return drift;
}

//  Rebuilds the display store's window from the command store's orders.
static int
s_repair (store_t *store, display_store_t *display, int64_t from_ms, int64_t to_ms)
{
    event_order_t *events = NULL;
    size_t count = 0;
    if (store_order_events (store, from_ms, to_ms, &events, &count) != 0) {
        fprintf (stderr, "reconcile: cannot read the orders of the window\n");
        return -1;
    }
    int rc = display_store_repair (display, from_ms, to_ms, events, count);
    if (rc != 0)
        fprintf (stderr, "reconcile: the display store refused the repair\n");
    else
        printf ("reconcile: repaired the window from %zu orders\n", count);
    for (size_t i = 0; i < count; i++)
        event_order_reset (&events [i]);
    free (events);
    return rc;
}

//  True when a and b hold the same menu state.
static bool
s_menu_same (const event_menu_t *a, const event_menu_t *b)
{
    return streq (a->menu_nm, b->menu_nm) && a->menu_price == b->menu_price
        && a->shown == b->shown && a->version == b->version;
}

//  Prints one side of a drifting menu (or "none").
static void
s_menu_side (const char *side, const event_menu_t *menu)
{
    if (menu)
        printf (" %s=v%" PRId64 " %s %" PRId64 " \"%s\"", side, menu->version,
                menu->shown ? "Y" : "N", menu->menu_price, menu->menu_nm);
    else
        printf (" %s=none", side);
}

//  Compares the menus of both stores, printing each drifting menu when
//  verbose. Returns the number of drifting menus, or -1 on a store error.
static int
s_compare_menus (store_t *store, display_store_t *display, bool verbose)
{
    event_menu_t *cmd = NULL, *disp = NULL;
    size_t cmd_count = 0, disp_count = 0;
    int drift = -1;
    if (store_menus_read (store, &cmd, &cmd_count) != 0) {
        fprintf (stderr, "reconcile: the command store could not list menus\n");
        goto done;
    }
    if (display_store_menus_all (display, &disp, &disp_count) != 0) {
        fprintf (stderr, "reconcile: the display store could not list menus\n");
        goto done;
    }
    //  Both lists are in menuId order: one merge pass
    drift = 0;
    size_t i = 0, j = 0;
    while (i < cmd_count || j < disp_count) {
        int order = i == cmd_count ? 1 : j == disp_count ? -1
                  : strcmp (cmd [i].menu_id, disp [j].menu_id);
        const event_menu_t *c = order <= 0 ? &cmd [i] : NULL;
        const event_menu_t *d = order >= 0 ? &disp [j] : NULL;
        if (!c || !d || !s_menu_same (c, d)) {
            drift++;
            if (verbose) {
                printf ("menu %s", c ? c->menu_id : d->menu_id);
                s_menu_side ("command", c);
                s_menu_side ("display", d);
                printf ("\n");
            }
        }
        i += c ? 1 : 0;
        j += d ? 1 : 0;
    }
    if (verbose)
        printf ("reconcile: %zu menus, %d drifting: %s\n", cmd_count, drift,
                drift ? "DRIFT" : "OK");
done:
    free (cmd);
    free (disp);
    return drift;
}

//  Makes the display menus the command store's.
static int
s_repair_menus (store_t *store, display_store_t *display)
{
    event_menu_t *menus = NULL;
    size_t count = 0;
    if (store_menus_read (store, &menus, &count) != 0) {
        fprintf (stderr, "reconcile: cannot read the menus\n");
        return -1;
    }
    int rc = display_store_menus_repair (display, menus, count);
    if (rc != 0)
        fprintf (stderr, "reconcile: the display store refused the menu repair\n");
    else
        printf ("reconcile: repaired the menus from %zu menus\n", count);
    free (menus);
    return rc;
}

//  `coffee reconcile …`: see the top of this file.
int
bridge_reconcile_main (int argc, char **argv)
{
    bool repair = false;
    int64_t hours = RECONCILE_HOURS_DEFAULT;
    char **rest = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    int rest_count = 0;
    store_t *store = NULL;
    display_store_t *display = NULL;
    int exit_code = 2;
    if (!rest)
        return 2;
    rest [rest_count++] = argc > 0 ? argv [0] : (char *) "reconcile";
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        if (streq (argv [i], "--repair"))
            repair = true;
        else
        if (streq (argv [i], "--window-hours")) {
            if (i + 1 >= argc) {
                fprintf (stderr, "reconcile: --window-hours needs a value\n");
                goto done;
            }
            value = argv [++i];
        }
        else
        if (strncmp (argv [i], "--window-hours=", 15) == 0)
            value = argv [i] + 15;
        else
            rest [rest_count++] = argv [i];
        if (value) {
            char *end = NULL;
            errno = 0;
            long long h = strtoll (value, &end, 10);
            if (errno || end == value || *end || h < 1 || h > RECONCILE_HOURS_MAX) {
                fprintf (stderr, "reconcile: --window-hours must be 1..%d\n", RECONCILE_HOURS_MAX);
                goto done;
            }
            hours = h;
        }
    }
    config_t cfg;
    char err [512] = "";
    if (config_load (&cfg, rest_count, rest, err, sizeof err) != 0) {
        fprintf (stderr, "reconcile: %s\n", err);
        goto done;
    }
    log_set_level ((log_level_t) cfg.log_level);
    store = store_open (cfg.store, err, sizeof err);
    if (!store) {
        fprintf (stderr, "reconcile: command store: %s\n", err);
        goto done;
    }
    display = display_store_open (cfg.display_store, err, sizeof err);
    if (!display) {
        fprintf (stderr, "reconcile: display store: %s\n", err);
        goto done;
    }
    int64_t to_ms = util_now_ms (cfg.clock_skew_ms);
    int64_t from_ms = to_ms - hours * 3600 * 1000;
    int drift = s_compare (store, display, from_ms, to_ms, true);
    int menu_drift = s_compare_menus (store, display, true);
    if (drift < 0 || menu_drift < 0)
        goto done;
    if (drift > 0 && repair) {
        if (s_repair (store, display, from_ms, to_ms) != 0)
            goto done;
        drift = s_compare (store, display, from_ms, to_ms, true);
        if (drift < 0)
            goto done;
    }
    if (menu_drift > 0 && repair) {
        if (s_repair_menus (store, display) != 0)
            goto done;
        menu_drift = s_compare_menus (store, display, true);
        if (menu_drift < 0)
            goto done;
    }
    exit_code = drift || menu_drift ? 1 : 0;
done:
    fflush (stdout);
    display_store_destroy (&display);
    store_destroy (&store);
    free (rest);
    return exit_code;
}
