/*  coffee — a coffee shop's ordering back end built as ZeroMQ actors.
    This header pulls in what every module uses; each module has its own
    header beside it. */
#ifndef COFFEE_H_INCLUDED
#define COFFEE_H_INCLUDED

#include <czmq.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdbool.h>
#include <inttypes.h>

//  Sizes of the identifiers the API hands out ("CUST-00000006", "ORD-00000027",
//  "MENU-00000001"), with room for the terminating NUL and for growth past
//  eight digits.
#define COFFEE_ID_MAX 32

#include "config.h"
#include "util.h"
#include "log.h"
#include "event.h"
#include "wire.h"
#include "metrics.h"

#endif
