/*  edge — connection counts per address, request-rate buckets and read
    deadlines for the HTTP front (see edge.h). The shared tables are
    striped: a key's hash picks its stripe, whose mutex guards a small
    fixed array of slots scanned whole (O(slots per stripe) per look-up),
    so workers on different stripes never wait for each other. */
#include "coffee.h"
#include "edge.h"
#include <sodium.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define S_STRIPES       64          //  mutexes per table
#define S_CONN_SLOTS    256         //  addresses per stripe of the connection table
#define S_RATE_SLOTS    128         //  buckets per stripe of a rate table
#define S_KERNEL_SLACK  20          //  ms of slack on the kernel's last-receive time (jiffies)

//  One address holding connections; key 0 is a free slot.
typedef struct {
    uint64_t key;                   //  keyed hash of the address
    int count;                      //  connections it holds
} s_conn_slot_t;

//  One token bucket; key 0 is a free slot.
typedef struct {
    uint64_t key;                   //  keyed hash of the address or customer
    double tokens;                  //  tokens at stamp_us
    int64_t stamp_us;               //  when tokens was last brought up to date
} s_bucket_t;

//  One stripe of the connection table.
typedef struct {
    pthread_mutex_t lock;           //  guards slots
    s_conn_slot_t slots [S_CONN_SLOTS];     //  the addresses
} s_conn_stripe_t;

//  One stripe of a rate table.
typedef struct {
    pthread_mutex_t lock;           //  guards slots
    s_bucket_t slots [S_RATE_SLOTS];        //  the buckets
} s_rate_stripe_t;

//  A rate table with its rate.
typedef struct {
    double rate;                    //  tokens per second, 0 when off
    double burst;                   //  most tokens a bucket holds
    s_rate_stripe_t stripes [S_STRIPES];    //  the buckets
} s_rates_t;

struct _edge_t {
    edge_limits_t limits;           //  the limits it was made with
    unsigned char hash_key [crypto_generichash_KEYBYTES];  //  random hash key
    s_conn_stripe_t conns [S_STRIPES];      //  connections per address
    s_rates_t rates [2];            //  EDGE_ADDRESS, EDGE_CUSTOMER
};

struct _edge_conn_t {
    edge_conn_t *prev, *next;       //  in the worker's list
    edge_addr_t addr;               //  its client address
    bool counted;                   //  holds a count in the connection table
    int fd;                         //  its socket
    int64_t begun_ms;               //  when the request being read began, 0 when none is
    int64_t idle_ms;                //  when the last request completed, 0 when not idle
    bool cut;                       //  shut down by the sweep already
};

struct _edge_watch_t {
    edge_t *edge;                   //  the shared tables
    int read_timeout_ms;            //  the read deadline, 0 for none
    edge_conn_t *head;              //  its connections
    int size;                       //  how many
    edge_addr_t pending;            //  address the last accept counted, not yet used
    bool has_pending;               //  pending holds a count
    int refused;                    //  connections refused since edge_watch_refused
};


//  --------------------------------------------------------------------------
//  The shared tables

//  Keyed hash of len bytes, never 0 (0 marks a free slot). BLAKE2b with
//  the process's random key: a client cannot choose colliding keys.
static uint64_t
s_key (edge_t *self, edge_kind_t kind, const void *data, size_t len)
{
    //  The kind is part of the key, so an address and a customer with the
    //  same bytes never share a slot.
    unsigned char tag = (unsigned char) kind;
    unsigned char out [crypto_generichash_BYTES_MIN];
    crypto_generichash_state state;
    crypto_generichash_init (&state, self->hash_key, sizeof self->hash_key, sizeof out);
    crypto_generichash_update (&state, &tag, 1);
    crypto_generichash_update (&state, (const unsigned char *) data, len);
    crypto_generichash_final (&state, out, sizeof out);
    uint64_t key;
    memcpy (&key, out, sizeof key);
    return key? key: 1;
}

//  The bucket size of a rate: the burst asked for, else twice the rate.
static double
s_burst (int rate, int burst)
{
    return burst > 0? burst: 2.0 * rate;
}

edge_t *
edge_new (const edge_limits_t *limits)
{
    if (sodium_init () < 0)
        return NULL;
    edge_t *self = (edge_t *) calloc (1, sizeof (edge_t));
    if (!self)
        return NULL;
    self->limits = *limits;
    randombytes_buf (self->hash_key, sizeof self->hash_key);
    self->rates [EDGE_ADDRESS].rate = limits->rate_per_address > 0? limits->rate_per_address: 0;
    self->rates [EDGE_ADDRESS].burst = s_burst (limits->rate_per_address,
                                                limits->burst_per_address);
    self->rates [EDGE_CUSTOMER].rate = limits->rate_per_customer > 0? limits->rate_per_customer: 0;
    self->rates [EDGE_CUSTOMER].burst = s_burst (limits->rate_per_customer,
                                                 limits->burst_per_customer);
    for (int s = 0; s < S_STRIPES; s++) {
        pthread_mutex_init (&self->conns [s].lock, NULL);
        pthread_mutex_init (&self->rates [0].stripes [s].lock, NULL);
        pthread_mutex_init (&self->rates [1].stripes [s].lock, NULL);
    }
    return self;
}

void
edge_destroy (edge_t **self_p)
{
    edge_t *self = *self_p;
    if (!self)
        return;
    for (int s = 0; s < S_STRIPES; s++) {
        pthread_mutex_destroy (&self->conns [s].lock);
        pthread_mutex_destroy (&self->rates [0].stripes [s].lock);
        pthread_mutex_destroy (&self->rates [1].stripes [s].lock);
    }
    free (self);
    *self_p = NULL;
}

edge_addr_t
edge_addr_of (const struct sockaddr *addr, socklen_t addr_len)
{
    static const unsigned char mapped [12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };
    edge_addr_t out;
    memset (&out, 0, sizeof out);
    if (addr && addr_len == 0)
        addr_len = addr->sa_family == AF_INET6? sizeof (struct sockaddr_in6)
                                              : sizeof (struct sockaddr_in);
    if (addr && addr->sa_family == AF_INET && addr_len >= sizeof (struct sockaddr_in)) {
        memcpy (out.bytes, &((const struct sockaddr_in *) addr)->sin_addr, 4);
        out.len = 4;
    }
    else
    if (addr && addr->sa_family == AF_INET6 && addr_len >= sizeof (struct sockaddr_in6)) {
        const unsigned char *ip = ((const struct sockaddr_in6 *) addr)->sin6_addr.s6_addr;
        if (memcmp (ip, mapped, sizeof mapped) == 0) {
            memcpy (out.bytes, ip + 12, 4);
            out.len = 4;
        }
        else {
            memcpy (out.bytes, ip, 8);
            out.len = 8;
        }
    }
    return out;
}

//  The slot of key in its stripe (locked by the caller), or a free one
//  when make is true; NULL when absent (or the stripe is full).
static s_conn_slot_t *
s_conn_slot (s_conn_stripe_t *stripe, uint64_t key, bool make)
{
    s_conn_slot_t *free_slot = NULL;
    for (int i = 0; i < S_CONN_SLOTS; i++) {
        s_conn_slot_t *slot = &stripe->slots [i];
        if (slot->key == key)
            return slot;
        if (!free_slot && slot->count == 0)
            free_slot = slot;
    }
    if (make && free_slot) {
        free_slot->key = key;
        free_slot->count = 0;
        return free_slot;
    }
    return NULL;
}

//  Adds delta to addr's count, refusing past limit when limit > 0.
//  Returns true when the count changed.
static bool
s_conn_add (edge_t *self, const edge_addr_t *addr, int delta, int limit)
{
    uint64_t key = s_key (self, EDGE_ADDRESS, addr->bytes, addr->len);
    s_conn_stripe_t *stripe = &self->conns [key % S_STRIPES];
    pthread_mutex_lock (&stripe->lock);
    s_conn_slot_t *slot = s_conn_slot (stripe, key, delta > 0);
    bool done = false;
    if (slot && (limit <= 0 || slot->count + delta <= limit) && slot->count + delta >= 0) {
        slot->count += delta;
        if (slot->count == 0)
            slot->key = 0;
        done = true;
    }
    pthread_mutex_unlock (&stripe->lock);
    return done;
}

bool
edge_conn_limited (edge_t *self)
{
    return self->limits.conns_per_address > 0;
}

bool
edge_conn_enter (edge_t *self, const edge_addr_t *addr)
{
    if (!edge_conn_limited (self) || addr->len == 0)
        return true;
    return s_conn_add (self, addr, 1, self->limits.conns_per_address);
}

void
edge_conn_force (edge_t *self, const edge_addr_t *addr)
{
    if (edge_conn_limited (self) && addr->len)
        s_conn_add (self, addr, 1, 0);
}

void
edge_conn_leave (edge_t *self, const edge_addr_t *addr)
{
    if (edge_conn_limited (self) && addr->len)
        s_conn_add (self, addr, -1, 0);
}

int
edge_conn_count (edge_t *self, const edge_addr_t *addr)
{
    uint64_t key = s_key (self, EDGE_ADDRESS, addr->bytes, addr->len);
    s_conn_stripe_t *stripe = &self->conns [key % S_STRIPES];
    pthread_mutex_lock (&stripe->lock);
    s_conn_slot_t *slot = s_conn_slot (stripe, key, false);
    int count = slot? slot->count: 0;
    pthread_mutex_unlock (&stripe->lock);
    return count;
}

bool
edge_rate_on (edge_t *self, edge_kind_t kind)
{
    return self->rates [kind].rate > 0;
}

//  Tokens a bucket holds at now_us.
static double
s_tokens (const s_rates_t *rates, const s_bucket_t *bucket, int64_t now_us)
{
    double tokens = bucket->tokens + rates->rate * (double) (now_us - bucket->stamp_us) / 1e6;
    return tokens > rates->burst? rates->burst: tokens;
}

int64_t
edge_rate_take (edge_t *self, edge_kind_t kind, const void *key_data, size_t key_len,
                int64_t now_us)
{
    s_rates_t *rates = &self->rates [kind];
    if (rates->rate <= 0)
        return 0;
    uint64_t key = s_key (self, kind, key_data, key_len);
    s_rate_stripe_t *stripe = &rates->stripes [key % S_STRIPES];
    pthread_mutex_lock (&stripe->lock);
    s_bucket_t *bucket = NULL, *reuse = NULL, *oldest = NULL;
    for (int i = 0; i < S_RATE_SLOTS && !bucket; i++) {
        s_bucket_t *slot = &stripe->slots [i];
        if (slot->key == key)
            bucket = slot;
        else
        if (!reuse && (slot->key == 0 || s_tokens (rates, slot, now_us) >= rates->burst))
            reuse = slot;       //  free, or full again: the same as a new bucket
        else
        if (!oldest || slot->stamp_us < oldest->stamp_us)
            oldest = slot;
    }
    if (!bucket) {
        bucket = reuse? reuse: oldest;
        bucket->key = key;
        bucket->tokens = rates->burst;
        bucket->stamp_us = now_us;
    }
    double tokens = s_tokens (rates, bucket, now_us);
    int64_t wait_us = 0;
    if (tokens >= 1.0)
        tokens -= 1.0;
    else {
        wait_us = (int64_t) ((1.0 - tokens) * 1e6 / rates->rate) + 1;
    }
    bucket->tokens = tokens;
    bucket->stamp_us = now_us;
    pthread_mutex_unlock (&stripe->lock);
    return wait_us;
}

int64_t
edge_rate_address (edge_t *self, struct MHD_Connection *conn, int64_t now_us)
{
    if (!edge_rate_on (self, EDGE_ADDRESS))
        return 0;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    edge_addr_t addr = edge_addr_of (info? info->client_addr: NULL, 0);
    return edge_rate_take (self, EDGE_ADDRESS, addr.bytes, addr.len, now_us);
}

int64_t
edge_rate_customer (edge_t *self, struct MHD_Connection *conn, const char *customer_id,
                    int64_t now_us)
{
    if (!edge_rate_on (self, EDGE_CUSTOMER))
        return 0;
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    unsigned char key [COFFEE_ID_MAX + crypto_generichash_BYTES_MIN];
    size_t len = strnlen (customer_id, COFFEE_ID_MAX);
    memcpy (key, customer_id, len);
    crypto_generichash (key + len, crypto_generichash_BYTES_MIN,
                        (const unsigned char *) (auth? auth: ""), auth? strlen (auth): 0,
                        NULL, 0);
    return edge_rate_take (self, EDGE_CUSTOMER, key, len + crypto_generichash_BYTES_MIN,
                           now_us);
}

int
edge_retry_after (int64_t wait_us)
{
    int64_t seconds = (wait_us + 999999) / 1000000;
    return seconds < 1? 1: seconds > 3600? 3600: (int) seconds;
}


//  --------------------------------------------------------------------------
//  A worker's connections

edge_watch_t *
edge_watch_new (edge_t *edge, int read_timeout_ms)
{
    edge_watch_t *self = (edge_watch_t *) calloc (1, sizeof (edge_watch_t));
    if (!self)
        return NULL;
    self->edge = edge;
    self->read_timeout_ms = read_timeout_ms;
    return self;
}

void
edge_watch_destroy (edge_watch_t **self_p)
{
    edge_watch_t *self = *self_p;
    if (!self)
        return;
    edge_watch_settle (self);
    while (self->head) {
        edge_conn_t *conn = self->head;
        edge_watch_close (self, &conn);
    }
    free (self);
    *self_p = NULL;
}

void
edge_watch_settle (edge_watch_t *self)
{
    if (self->has_pending) {
        edge_conn_leave (self->edge, &self->pending);
        self->has_pending = false;
    }
}

bool
edge_watch_accept (edge_watch_t *self, const struct sockaddr *addr, socklen_t addr_len)
{
    edge_watch_settle (self);
    edge_addr_t counted = edge_addr_of (addr, addr_len);
    if (!edge_conn_limited (self->edge) || counted.len == 0)
        return true;
    if (!edge_conn_enter (self->edge, &counted))
        return false;
    self->pending = counted;
    self->has_pending = true;
    return true;
}

edge_conn_t *
edge_watch_open (edge_watch_t *self, const struct sockaddr *addr, int fd, int64_t now_ms)
{
    edge_addr_t counted = edge_addr_of (addr, 0);
    bool limited = edge_conn_limited (self->edge) && counted.len > 0;
    //  The accept just before, on this same thread, counted it already.
    bool taken = self->has_pending && self->pending.len == counted.len
              && memcmp (self->pending.bytes, counted.bytes, counted.len) == 0;
    if (taken)
        self->has_pending = false;
    edge_conn_t *conn = (edge_conn_t *) calloc (1, sizeof (edge_conn_t));
    if (!conn) {
        if (taken)
            edge_conn_leave (self->edge, &counted);
        return NULL;
    }
    if (limited && !taken)
        edge_conn_force (self->edge, &counted);
    conn->addr = counted;
    conn->counted = limited;
    conn->fd = fd;
    conn->begun_ms = now_ms;
    conn->next = self->head;
    if (self->head)
        self->head->prev = conn;
    self->head = conn;
    self->size++;
    return conn;
}

void
edge_watch_close (edge_watch_t *self, edge_conn_t **conn_p)
{
    edge_conn_t *conn = *conn_p;
    if (!conn)
        return;
    if (conn->counted)
        edge_conn_leave (self->edge, &conn->addr);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        self->head = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    self->size--;
    free (conn);
    *conn_p = NULL;
}

int64_t
edge_now_ms (void)
{
    struct timespec now;
    if (clock_gettime (CLOCK_MONOTONIC_COARSE, &now) != 0)
        return zclock_mono ();
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
edge_conn_begin (edge_conn_t *conn, int64_t now_ms)
{
    if (conn && !conn->begun_ms) {
        conn->begun_ms = now_ms;
        conn->idle_ms = 0;
    }
}

void
edge_conn_read (edge_conn_t *conn)
{
    if (conn) {
        conn->begun_ms = 0;
        conn->idle_ms = 0;
    }
}

void
edge_conn_idle (edge_conn_t *conn, int64_t now_ms)
{
    if (conn) {
        conn->begun_ms = 0;
        conn->idle_ms = now_ms;
    }
}

//  An idle kept-alive connection: when the kernel received data after the
//  last request completed, the next request began then (its line may be
//  dripped too slowly to be parsed yet).
static void
s_check_idle (edge_conn_t *conn, int64_t now_ms)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt (conn->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0
    ||  len < offsetof (struct tcp_info, tcpi_last_data_recv) + sizeof info.tcpi_last_data_recv)
        return;
    int64_t received_ms = now_ms - (int64_t) info.tcpi_last_data_recv;
    if (received_ms > conn->idle_ms + S_KERNEL_SLACK)
        edge_conn_begin (conn, received_ms);
}

int
edge_watch_sweep (edge_watch_t *self, int64_t now_ms)
{
    if (self->read_timeout_ms <= 0)
        return 0;
    int cut = 0;
    for (edge_conn_t *conn = self->head; conn; conn = conn->next) {
        if (conn->cut)
            continue;
        if (!conn->begun_ms && conn->idle_ms)
            s_check_idle (conn, now_ms);
        if (conn->begun_ms && now_ms - conn->begun_ms >= self->read_timeout_ms) {
            //  MHD reads the end of the stream and closes it as usual.
            shutdown (conn->fd, SHUT_RDWR);
            conn->cut = true;
            cut++;
        }
    }
    return cut;
}

int
edge_watch_size (edge_watch_t *self)
{
    return self->size;
}

int
edge_watch_refused (edge_watch_t *self)
{
    int refused = self->refused;
    self->refused = 0;
    return refused;
}


//  --------------------------------------------------------------------------
//  libmicrohttpd callbacks

enum MHD_Result
edge_mhd_accept (void *cls, const struct sockaddr *addr, socklen_t addr_len)
{
    edge_watch_t *self = (edge_watch_t *) cls;
    if (edge_watch_accept (self, addr, addr_len))
        return MHD_YES;
    self->refused++;
    return MHD_NO;
}

void
edge_mhd_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    edge_watch_t *self = (edge_watch_t *) cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = edge_watch_open (self, addr? addr->client_addr: NULL,
                                           fd? fd->connect_fd: -1, edge_now_ms ());
    }
    else
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        edge_watch_close (self, (edge_conn_t **) socket_context);
}

void *
edge_mhd_uri_log (void *cls, const char *uri, struct MHD_Connection *conn)
{
    edge_conn_begin (edge_mhd_conn (conn), edge_now_ms ());
    return NULL;
}

edge_conn_t *
edge_mhd_conn (struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info? (edge_conn_t *) info->socket_context: NULL;
}
