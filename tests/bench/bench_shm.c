//  bench_shm - a 1 GiB payload to a process actor by shared-memory handle,
//  against copying it once with memcpy, measured in the same run
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <troupe.h>

static double
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  The child maps the segment and reads its first and last byte: it then
//  has read access to all of it.
static int
s_touch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_shm_t *shm = tr_shm_open (msg);
    if (!shm)
        return tr_reply_error (self, msg, TR_EINVAL);
    const unsigned char *bytes = tr_shm_data (shm);
    unsigned char ends[2] = {bytes[0], bytes[tr_shm_size (shm) - 1]};
    tr_shm_release (&shm);
    return tr_reply (self, msg, ends, sizeof ends);
}

static const tr_handler_t s_handlers[] = {{"b.touch", s_touch}, {NULL, NULL}};
static const tr_behaviour_t s_toucher = {"b.toucher", 0, NULL, NULL, s_handlers, NULL};

int
main (int argc, char *argv[])
{
    bool quick = argc > 1 && strcmp (argv[1], "--quick") == 0;
    size_t size = quick ? (64u << 20) : (1u << 30);
    int rounds = quick ? 3 : 7;
    const char *label = quick ? "64m" : "1g";
    tr_behaviour_register (&s_toucher);

    //  Baseline: one copy of the payload (both buffers touched first, so page
    //  faults are not what is measured).
    char *from = malloc (size), *to = malloc (size);
    if (!from || !to)
        return 1;
    memset (from, 1, size);
    memset (to, 2, size);
    double copy[16];
    for (int i = 0; i < rounds; i++) {
        double start = s_now_us ();
        memcpy (to, from, size);
        copy[i] = s_now_us () - start;
    }
    qsort (copy, (size_t) rounds, sizeof copy[0], s_cmp);
    double memcpy_us = copy[rounds / 2];
    printf ("memcpy_%s_us: %.0f us (%.0f MB/s)\n", label, memcpy_us, (double) size / memcpy_us);
    free (from);
    free (to);

    tr_runtime_t *rt = tr_runtime_new (NULL);
    if (!rt || tr_runtime_start (rt) != 0)
        return 1;
    tr_process_spec_t spec = {.behaviour = "b.toucher"};
    tr_ref_t pool;
    int failed = tr_process_start (rt, &spec, &pool) != 0;
    tr_shm_t *shm = failed ? NULL : tr_shm_new (size);
    if (!shm)
        failed = 1;
    else {
        unsigned char *bytes = tr_shm_data (shm);
        bytes[0] = 0x5a;
        bytes[size - 1] = 0xa5;
    }
    double handoff[16];
    tr_type_t touch = tr_type ("b.touch");
    for (int i = 0; !failed && i < rounds; i++) {
        unsigned char *ends = NULL;
        size_t ends_size = 0;
        double start = s_now_us ();
        int rc = tr_call_shm (rt, pool, touch, shm, 10000, (void **) &ends, &ends_size);
        handoff[i] = s_now_us () - start;
        if (rc != 0 || ends_size != 2 || ends[0] != 0x5a || ends[1] != 0xa5) {
            fprintf (stderr, "bench_shm: handoff failed: %s\n", tr_strerror (rc));
            failed = 1;
        }
        tr_free (ends);
    }
    if (!failed) {
        qsort (handoff, (size_t) rounds, sizeof handoff[0], s_cmp);
        printf ("shm_handoff_%s_us: %.0f us (%.4fx memcpy_%s_us; request to a process actor, "
                "which maps it and reads both ends)\n",
                label, handoff[rounds / 2], handoff[rounds / 2] / memcpy_us, label);
    }
    tr_shm_release (&shm);
    tr_runtime_destroy (&rt);
    return failed;
}
