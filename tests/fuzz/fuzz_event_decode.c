/*  fuzz_event_decode — event_order_decode on an event log payload (local
    log row, Kafka message value: whatever a broker hands the projection and
    the collector sink). Promises: a refused payload leaves the event reset;
    an accepted one has non-empty ids, at least one line, every qy > 0, and
    encodes to JSON that decodes to the same event. */
#include "coffee.h"
#include "fuzzkit.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  An exact-size heap copy: the decoder takes a length, not a NUL
    char *payload = (char *) malloc (size ? size : 1);
    FK_CHECK (payload);
    memcpy (payload, data, size);
    event_order_t ev;
    if (event_order_decode (payload, size, &ev) != 0) {
        FK_CHECK (ev.lines == NULL && ev.line_count == 0 && ev.order_no [0] == 0);
        free (payload);
        return 0;
    }
    FK_CHECK (ev.order_no [0] && ev.customer_id [0] && ev.line_count > 0 && ev.lines);
    for (size_t i = 0; i < ev.line_count; i++)
        FK_CHECK (ev.lines [i].qy > 0 && ev.lines [i].menu_id [0]);
    char *text = event_order_encode (&ev);
    FK_CHECK (text);
    event_order_t again;
    FK_CHECK (event_order_decode (text, strlen (text), &again) == 0);
    FK_CHECK (strcmp (again.order_no, ev.order_no) == 0);
    FK_CHECK (strcmp (again.customer_id, ev.customer_id) == 0);
    FK_CHECK (again.pay_amt == ev.pay_amt && again.ordered_at_ms == ev.ordered_at_ms);
    FK_CHECK (again.line_count == ev.line_count);
    for (size_t i = 0; i < ev.line_count; i++) {
        FK_CHECK (strcmp (again.lines [i].menu_id, ev.lines [i].menu_id) == 0);
        FK_CHECK (again.lines [i].qy == ev.lines [i].qy);
    }
    event_order_reset (&again);
    zstr_free (&text);
    event_order_reset (&ev);
    free (payload);
    return 0;
}
