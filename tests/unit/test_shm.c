//  test_shm - shared-memory segments by handle: to a thread actor, to a
//  process actor, reference counting, and handles that must be refused
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

//  Sums the bytes of the segment a message carries; replies with the sum.
static int
s_sum (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_shm_t *shm = tr_shm_open (msg);
    if (!shm)
        return tr_reply_error (self, msg, TR_EINVAL);
    uint64_t sum = 0;
    const unsigned char *bytes = tr_shm_data (shm);
    for (size_t i = 0; i < tr_shm_size (shm); i++)
        sum += bytes[i];
    tr_shm_release (&shm);
    return tr_reply (self, msg, &sum, sizeof sum);
}

static const tr_handler_t s_handlers[] = {{"t.sum", s_sum}, {NULL, NULL}};
static const tr_behaviour_t s_summer = {"t.summer", 0, NULL, NULL, s_handlers, NULL};

//  memfd segments this process maps now.
static int
s_mappings (void)
{
    FILE *maps = fopen ("/proc/self/maps", "r");
    TR_ASSERT (maps);
    char line[512];
    int count = 0;
    while (fgets (line, sizeof line, maps))
        if (strstr (line, "memfd:troupe-shm"))
            count++;
    fclose (maps);
    return count;
}

static uint64_t
s_call_sum (tr_runtime_t *rt, tr_ref_t to, tr_shm_t *shm)
{
    uint64_t *sum = NULL;
    size_t size = 0;
    TR_CHECK (tr_call_shm (rt, to, tr_type ("t.sum"), shm, 10000, (void **) &sum, &size));
    TR_ASSERT (sum && size == sizeof *sum);
    uint64_t value = *sum;
    tr_free (sum);
    return value;
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_summer));
    tr_runtime_t *rt = tr_test_runtime (2);

    size_t size = 8u << 20;
    tr_shm_t *shm = tr_shm_new (size);
    TR_ASSERT (shm && tr_shm_size (shm) == size);
    memset (tr_shm_data (shm), 3, size);
    uint64_t expected = 3ull * size;
    TR_ASSERT_EQ_INT (s_mappings (), 1);

    //  A thread actor and a process actor read the same bytes by handle.
    tr_ref_t local, pool;
    TR_CHECK (tr_spawn (rt, "t.summer", NULL, 0, NULL, &local));
    TR_ASSERT (s_call_sum (rt, local, shm) == expected);
    tr_process_spec_t spec = {.behaviour = "t.summer"};
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_ASSERT (s_call_sum (rt, pool, shm) == expected);

    //  Messages done with hold no reference: the last release unmaps.
    TR_ASSERT_EQ_INT (s_mappings (), 1);
    tr_shm_release (&shm);
    TR_ASSERT (shm == NULL);
    for (int tries = 0; tries < 100 && s_mappings () > 0; tries++)
        usleep (10000);
    TR_ASSERT_EQ_INT (s_mappings (), 0);

    //  A one-way send keeps the segment alive after we let go of it.
    shm = tr_shm_new (4096);
    TR_ASSERT (shm);
    TR_CHECK (tr_runtime_send_shm (rt, pool, tr_type ("t.sum"), shm));
    tr_shm_release (&shm);
    for (int tries = 0; tries < 200 && s_mappings () > 0; tries++)
        usleep (10000);
    TR_ASSERT_EQ_INT (s_mappings (), 0);  //  released once the child acknowledged it

    //  A handle outside any message: opened read-only with a reference of
    //  its own; retain and release count; bad handles and sizes refused.
    shm = tr_shm_new (4096);
    TR_ASSERT (shm);
    memset (tr_shm_data (shm), 7, 4096);
    unsigned char handle[TR_SHM_HANDLE_SIZE];
    TR_CHECK (tr_shm_handle (shm, handle, sizeof handle));
    TR_ASSERT_EQ_INT (tr_shm_handle (shm, handle, sizeof handle - 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_shm_handle (NULL, handle, sizeof handle), TR_EINVAL);
    tr_shm_t *opened = tr_shm_open_handle (handle, sizeof handle);
    TR_ASSERT (opened && tr_shm_size (opened) == 4096
               && ((const unsigned char *) tr_shm_data (opened))[4095] == 7);
    TR_ASSERT (tr_shm_open_handle (handle, sizeof handle - 1) == NULL);
    TR_ASSERT (tr_shm_open_handle (NULL, sizeof handle) == NULL);
    tr_shm_t *again = tr_shm_retain (shm);
    TR_ASSERT (again == shm && tr_shm_retain (NULL) == NULL);
    tr_shm_release (&again);
    tr_shm_release (&shm);  //  the opened mapping keeps the memory
    TR_ASSERT (((const unsigned char *) tr_shm_data (opened))[0] == 7);
    tr_shm_release (&opened);
    for (int tries = 0; tries < 100 && s_mappings () > 0; tries++)
        usleep (10000);
    TR_ASSERT_EQ_INT (s_mappings (), 0);

    //  Bad input: no segment, a forged handle, a plain message.
    TR_ASSERT (tr_shm_new (0) == NULL);
    TR_ASSERT (tr_shm_open (NULL) == NULL);
    unsigned char forged[32] = {0x54, 0x52, 0x53, 0x48, 0xff, 0xff, 0xff, 0x7f};
    tr_msg_t fake = {
        .type = tr_type ("t.sum"), .flags = TR_MSG_SHM, .data = forged, .size = sizeof forged};
    TR_ASSERT (tr_shm_open (&fake) == NULL);
    fake.size = 7;
    TR_ASSERT (tr_shm_open (&fake) == NULL);
    fake.flags = 0;
    fake.size = sizeof forged;
    TR_ASSERT (tr_shm_open (&fake) == NULL);
    //  A handle to a segment nobody holds any more: the actor answers with
    //  an error, nothing crashes.
    TR_ASSERT_EQ_INT (
        tr_call (rt, local, tr_type ("t.sum"), forged, sizeof forged, 1000, NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_call_shm (rt, local, tr_type ("t.sum"), NULL, 1000, NULL, NULL),
                      TR_EINVAL);
    tr_runtime_destroy (&rt);
    TR_PASS ();
    return 0;
}
