//  demo_actors - behaviours for examples/config/node.zpl, built as the shared
//  object libtroupe_demo_actors.so, which a config loads with `load`: its
//  constructor registers them when it is loaded
//
//  greeter  "greet": replies "<arg>, <payload>!" (arg: the greeting)
//  counter  "add": adds an int64_t; "get": replies the total (int64_t); arg:
//           the starting total as a decimal string (init fails on others)
//  echo     "echo": replies with the payload; "pid": replies its process id
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe.h>

//  --------------------------------------------------------------------------
//  greeter

typedef struct {
    char greeting[64];
} greeter_t;

static int
greeter_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    greeter_t *greeter = state;
    //  A config's arg is a string with its NUL; code may pass raw bytes.
    snprintf (greeter->greeting, sizeof greeter->greeting, "%.*s", (int) arg_size,
              arg_size ? (const char *) arg : "hello");
    return 0;
}

static int
greeter_greet (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    greeter_t *greeter = state;
    char reply[256];
    int length = snprintf (reply, sizeof reply, "%s, %.*s!", greeter->greeting, (int) msg->size,
                           (const char *) msg->data);
    if (length < 0 || (size_t) length >= sizeof reply)
        length = (int) sizeof reply - 1;
    return tr_reply (self, msg, reply, (size_t) length);
}

static const tr_handler_t greeter_handlers[] = {{"greet", greeter_greet}, {NULL, NULL}};
static const tr_behaviour_t greeter_behaviour = {
    .name = "greeter",
    .state_size = sizeof (greeter_t),
    .init = greeter_init,
    .handlers = greeter_handlers,
};

//  --------------------------------------------------------------------------
//  counter

typedef struct {
    int64_t total;
} counter_t;

//  arg (optional): the starting total, a decimal string; anything else
//  makes init fail (what tests/integration/cli_test.sh uses to make a
//  supervisor give up).
static int
counter_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    if (arg_size == 0)
        return 0;
    char text[32];
    snprintf (text, sizeof text, "%.*s", (int) arg_size, (const char *) arg);
    char *end;
    long long total = strtoll (text, &end, 10);
    if (end == text || *end != '\0')
        return TR_EINVAL;
    ((counter_t *) state)->total = total;
    return 0;
}

static int
counter_add (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    int64_t amount;
    if (msg->size != sizeof amount)
        return 0;  //  not a number: ignored
    memcpy (&amount, msg->data, sizeof amount);
    ((counter_t *) state)->total += amount;
    return 0;
}

static int
counter_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    counter_t *counter = state;
    return tr_reply (self, msg, &counter->total, sizeof counter->total);
}

static const tr_handler_t counter_handlers[] = {
    {"add", counter_add}, {"get", counter_get}, {NULL, NULL}};
static const tr_behaviour_t counter_behaviour = {
    .name = "counter",
    .state_size = sizeof (counter_t),
    .init = counter_init,
    .handlers = counter_handlers,
};

//  --------------------------------------------------------------------------
//  echo

static int
echo_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

static int
echo_pid (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    int32_t pid = (int32_t) getpid ();
    return tr_reply (self, msg, &pid, sizeof pid);
}

static const tr_handler_t echo_handlers[] = {{"echo", echo_echo}, {"pid", echo_pid}, {NULL, NULL}};
static const tr_behaviour_t echo_behaviour = {.name = "echo", .handlers = echo_handlers};

//  --------------------------------------------------------------------------
//  Registered when the shared object is loaded (before the runtime exists,
//  so process pools of these behaviours work too).

__attribute__ ((constructor)) static void
demo_actors_register (void)
{
    const tr_behaviour_t *behaviours[] = {&greeter_behaviour, &counter_behaviour, &echo_behaviour};
    for (size_t i = 0; i < sizeof behaviours / sizeof behaviours[0]; i++) {
        int rc = tr_behaviour_register (behaviours[i]);
        if (rc != 0)
            fprintf (stderr, "demo_actors: cannot register %s: %s\n", behaviours[i]->name,
                     tr_strerror (rc));
    }
}
