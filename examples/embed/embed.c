//  embed - a host program that embeds troupe: start a runtime, spawn a
//  greeter actor, call it, print its reply
//
//  Build against an installed troupe, either with the Makefile here
//  (pkg-config troupe) or with CMakeLists.txt (find_package(troupe)).
//  Usage: embed [NAME]      prints "hello, NAME" (NAME defaults to world)

#include <stdio.h>
#include <string.h>

#include <troupe.h>

//  "greet": the payload is a name (bytes, not NUL-terminated); the reply is
//  "hello, <name>", also without a terminating NUL.
static int
s_greet (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    char greeting[256];
    if (msg->size > sizeof greeting - sizeof "hello, ")
        return tr_reply_error (self, msg, TR_EMSGSIZE);
    int length = snprintf (greeting, sizeof greeting, "hello, %.*s", (int) msg->size,
                           (const char *) msg->data);
    return tr_reply (self, msg, greeting, (size_t) length);
}

static const tr_handler_t s_greeter_handlers[] = {
    {"greet", s_greet},
    {NULL, NULL},
};

static const tr_behaviour_t s_greeter = {
    .name = "greeter",
    .handlers = s_greeter_handlers,
};

int
main (int argc, char *argv[])
{
    const char *name = argc > 1 ? argv[1] : "world";
    char expected[256];
    snprintf (expected, sizeof expected, "hello, %s", name);

    int rc = tr_behaviour_register (&s_greeter);
    if (rc != 0) {
        fprintf (stderr, "embed: register greeter: %s\n", tr_strerror (rc));
        return 1;
    }
    tr_runtime_t *rt = tr_runtime_new (NULL);
    if (!rt) {
        fprintf (stderr, "embed: cannot create the runtime\n");
        return 1;
    }
    rc = tr_runtime_start (rt);
    if (rc != 0) {
        fprintf (stderr, "embed: start: %s\n", tr_strerror (rc));
        tr_runtime_destroy (&rt);
        return 1;
    }

    tr_ref_t greeter = TR_REF_NONE;
    rc = tr_spawn (rt, "greeter", NULL, 0, NULL, &greeter);
    if (rc != 0) {
        fprintf (stderr, "embed: spawn greeter: %s\n", tr_strerror (rc));
        tr_runtime_destroy (&rt);
        return 1;
    }

    void *reply = NULL;
    size_t reply_size = 0;
    rc = tr_call (rt, greeter, tr_type ("greet"), name, strlen (name), 1000, &reply, &reply_size);
    bool right = false;
    if (rc == 0) {
        printf ("%.*s\n", (int) reply_size, reply ? (const char *) reply : "");
        right = reply_size == strlen (expected) && memcmp (reply, expected, reply_size) == 0;
        if (!right)
            fprintf (stderr, "embed: expected \"%s\"\n", expected);
    }
    else
        fprintf (stderr, "embed: call greeter: %s\n", tr_strerror (rc));
    tr_free (reply);

    tr_runtime_destroy (&rt);
    return right ? 0 : 1;
}
