//  hello - the smallest troupe program: one actor that greets once and stops
//
//  Build: part of the main build (build/hello), or against an installed
//  troupe: cc hello.c $(pkg-config --cflags --libs troupe)

#include <stdio.h>

#include <troupe.h>

//  Runs on the actor's scheduler thread. "greet" is sent with tr_call, so it
//  is a request: answer it, then stop this actor once the handler returns.
static int
s_greet (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    printf ("hello from actor\n");
    fflush (stdout);
    int rc = tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return rc;
}

static const tr_handler_t s_hello_handlers[] = {
    {"greet", s_greet},
    {NULL, NULL},
};

static const tr_behaviour_t s_hello = {
    .name = "hello",
    .handlers = s_hello_handlers,
};

int
main (void)
{
    int rc = tr_behaviour_register (&s_hello);
    if (rc != 0) {
        fprintf (stderr, "hello: register: %s\n", tr_strerror (rc));
        return 1;
    }
    tr_runtime_t *rt = tr_runtime_new (NULL);
    if (!rt) {
        fprintf (stderr, "hello: cannot create the runtime\n");
        return 1;
    }
    tr_ref_t actor = TR_REF_NONE;
    rc = tr_runtime_start (rt);
    if (rc == 0)
        rc = tr_spawn (rt, "hello", NULL, 0, NULL, &actor);
    if (rc == 0) {
        void *reply = NULL;
        size_t reply_size = 0;
        //  Wait for the actor to have greeted (at most 2 s).
        rc = tr_call (rt, actor, tr_type ("greet"), NULL, 0, 2000, &reply, &reply_size);
        tr_free (reply);
    }
    if (rc != 0)
        fprintf (stderr, "hello: %s\n", tr_strerror (rc));
    tr_runtime_destroy (&rt);
    return rc == 0 ? 0 : 1;
}
