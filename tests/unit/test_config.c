//  test_config - config files: every kind of bad file is refused with its
//  line, key and reason, and nothing starts; the ZPL reader agrees with
//  zconfig and keeps lines; a good file builds a node that answers calls
#include "testutil.h"
#include "zpl.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

static char s_dir[] = "/tmp/troupe-test-config.XXXXXX";
static int s_files;

//  Write text to a new file in the test directory; returns its path.
static const char *
s_write (const char *text, size_t size)
{
    static char path[256];
    snprintf (path, sizeof path, "%s/c%d.zpl", s_dir, ++s_files);
    FILE *file = fopen (path, "wb");
    TR_ASSERT (file);
    TR_ASSERT (fwrite (text, 1, size, file) == size);
    TR_ASSERT (fclose (file) == 0);
    return path;
}

//  A config that must fail with code, at line, for key, saying what.
static void
s_bad (int source_line, const char *text, int code, int line, const char *key, const char *what)
{
    const char *path = s_write (text, strlen (text));
    tr_config_error_t error;
    int rc = tr_config_check (path, &error);
    if (rc != code || error.code != code || error.line != line || strcmp (error.key, key) != 0
        || !strstr (error.message, what) || strcmp (error.file, path) != 0) {
        fprintf (stderr,
                 "test_config.c:%d: FAIL: expected %d at line %d key '%s' saying '%s'\n"
                 "  got %d (%s) %s:%d: %s: %s\n",
                 source_line, code, line, key, what, rc, tr_strerror (rc), error.file, error.line,
                 error.key, error.message);
        exit (1);
    }
    //  tr_config_load fails the same way and returns nothing.
    TR_ASSERT (tr_config_load (path, &error) == NULL);
    TR_ASSERT_EQ_INT (error.line, line);
    TR_ASSERT (tr_runtime_new_from_config (path, &error) == NULL);
    TR_ASSERT_EQ_INT (error.line, line);
}

#define BAD(text, code, line, key, what) s_bad (__LINE__, text, code, line, key, what)

//  --------------------------------------------------------------------------
//  Behaviours the configs name

static int
s_greet (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    char reply[128];
    int length = snprintf (reply, sizeof reply, "%s, %.*s", (const char *) state, (int) msg->size,
                           (const char *) msg->data);
    return tr_reply (self, msg, reply, (size_t) length);
}

static int
s_greeter_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    //  A config's arg is the string with its NUL.
    if (arg_size == 0 || ((const char *) arg)[arg_size - 1] != '\0' || arg_size > 64)
        return TR_EINVAL;
    memcpy (state, arg, arg_size);
    return 0;
}

static int
s_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

static const tr_handler_t s_greeter_handlers[] = {{"greet", s_greet}, {NULL, NULL}};
static const tr_behaviour_t s_greeter = {
    .name = "test.greeter",
    .state_size = 64,
    .init = s_greeter_init,
    .handlers = s_greeter_handlers,
};
static const tr_handler_t s_echo_handlers[] = {{"echo", s_echo}, {"echo2", s_echo}, {NULL, NULL}};
static const tr_behaviour_t s_echoer = {.name = "test.echo", .handlers = s_echo_handlers};

//  --------------------------------------------------------------------------
//  The ZPL reader

//  Whether zconfig accepts text (its complaints on stdout are silenced).
static bool
s_zconfig_accepts (const char *text)
{
    fflush (stdout);
    int saved = dup (1);
    int null = open ("/dev/null", O_WRONLY);
    dup2 (null, 1);
    zconfig_t *root = zconfig_str_load (text);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    close (null);
    bool accepted = root != NULL;
    zconfig_destroy (&root);
    return accepted;
}

static void
test_zpl_agrees_with_zconfig (void)
{
    //  Each: the text, and the line troupe reports (0 = accepted).
    static const struct {
        const char *text;
        int line;
    } cases[] = {
        {"a = 1\n", 0},
        {"a\n    b = 2\n    c\n        d = 'x y'\n", 0},
        {"a = 1 # comment\n# whole line\n\n    # indented comment\nb = \"#not a comment\"\n", 0},
        {"a = #x\n", 0},  //  zconfig keeps "#x"
        {"a=1\nb =2\nc= 3\n", 0},
        {"a = 1\r\nb = 2\r\n", 0},
        {"  a = 1\n", 1},
        {"a\n      b = 1\n", 2},
        {"a\n\tb = 1\n", 2},
        {"a\n        b = 1\n", 2},
        {"    a = 1\n", 1},
        {"a = \"open\n", 1},
        {"a = 'x' y\n", 1},
        {"a b\n", 1},
        {"a: 1\n", 1},
        {"/a = 1\n", 1},
        {"a/ = 1\n", 1},
        {"a\n  # badly indented comment\n", 2},
        {"= 1\n", 1},
        {"ok = 1\nno way\n", 2},
        {"a = 1", 0},  //  no final newline
        {"", 0},
        {"\n\n\n", 0},
        {"a\n    b\n        c\n    d\ne\n    f = 1\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text;
        tr__zpl_t *zpl = NULL;
        int line = -1;
        char why[256] = "";
        int rc = tr__zpl_parse (text, strlen (text), &zpl, &line, why, sizeof why);
        bool zconfig = s_zconfig_accepts (text);
        if ((rc == 0) != zconfig || (rc ? line : 0) != cases[i].line) {
            fprintf (stderr,
                     "test_config: FAIL: case %zu: troupe %s (line %d: %s), zconfig %s, "
                     "expected line %d\n",
                     i, rc ? "refuses" : "accepts", line, why, zconfig ? "accepts" : "refuses",
                     cases[i].line);
            exit (1);
        }
        tr__zpl_destroy (&zpl);
    }

    //  Lines of the items.
    const char *text = "# header\n\nnode\n    threads = 2   # two\n\nsupervisor\n"
                       "    actor = a\n        behaviour = b\n";
    tr__zpl_t *zpl = NULL;
    int line;
    char why[256];
    TR_CHECK (tr__zpl_parse (text, strlen (text), &zpl, &line, why, sizeof why));
    zconfig_t *root = tr__zpl_root (zpl);
    TR_ASSERT_EQ_INT (tr__zpl_line (zpl, root), 0);
    TR_ASSERT_EQ_INT (tr__zpl_line (zpl, zconfig_locate (root, "node")), 3);
    TR_ASSERT_EQ_INT (tr__zpl_line (zpl, zconfig_locate (root, "node/threads")), 4);
    TR_ASSERT (strcmp (zconfig_value (zconfig_locate (root, "node/threads")), "2") == 0);
    TR_ASSERT_EQ_INT (tr__zpl_line (zpl, zconfig_locate (root, "supervisor/actor")), 7);
    TR_ASSERT_EQ_INT (tr__zpl_line (zpl, zconfig_locate (root, "supervisor/actor/behaviour")), 8);
    tr__zpl_destroy (&zpl);

    //  A NUL byte, a line too long, a missing file, a directory.
    tr_config_error_t error;
    const char *path = s_write ("node\n    name = a\0b\n", 20);
    TR_ASSERT_EQ_INT (tr_config_check (path, &error), TR_EINVAL);
    TR_ASSERT_EQ_INT (error.line, 2);
    TR_ASSERT (strstr (error.message, "NUL"));
    char long_line[1100];
    memset (long_line, 'x', sizeof long_line);
    memcpy (long_line, "node\n    name = ", 16);
    long_line[sizeof long_line - 1] = '\n';
    path = s_write (long_line, sizeof long_line);
    TR_ASSERT_EQ_INT (tr_config_check (path, &error), TR_EINVAL);
    TR_ASSERT_EQ_INT (error.line, 2);
    TR_ASSERT (strstr (error.message, "longer than 1024"));
    char missing[300];
    snprintf (missing, sizeof missing, "%s/no-such.zpl", s_dir);
    TR_ASSERT_EQ_INT (tr_config_check (missing, &error), TR_ENOENT);
    TR_ASSERT_EQ_INT (error.line, 0);
    TR_ASSERT (strcmp (error.file, missing) == 0);
    TR_ASSERT (strstr (error.message, "No such file"));
    TR_ASSERT_EQ_INT (tr_config_check (s_dir, &error), TR_ENOENT);
    TR_ASSERT (strstr (error.message, "directory"));
    TR_ASSERT_EQ_INT (tr_config_check (NULL, &error), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_config_check (missing, NULL), TR_ENOENT);  //  error is optional
}

//  --------------------------------------------------------------------------
//  Bad configs: each kind, its line and key

static void
test_syntax_errors (void)
{
    BAD ("node\n  threads = 2\n", TR_EINVAL, 2, "", "indent by 4 spaces");
    BAD ("node\n\tthreads = 2\n", TR_EINVAL, 2, "", "tab");
    BAD ("node\n    name = \"demo\n", TR_EINVAL, 2, "", "missing closing \"");
    BAD ("node\n    threads: 2\n", TR_EINVAL, 2, "", "after key 'threads'");
    BAD ("node\n    threads = 2\n            loops = 1\n", TR_EINVAL, 3, "", "too deep");
    BAD ("    node\n", TR_EINVAL, 1, "", "first key");
}

static void
test_key_errors (void)
{
    //  Unknown keys, at every level, say what was expected.
    BAD ("# top\nnodes\n", TR_EINVAL, 2, "nodes", "expected one of: load, node, supervisor");
    BAD ("node\n    thread = 2\n", TR_EINVAL, 2, "node/thread", "expected one of: name, threads");
    BAD ("supervisor\n    restart = permanent\n", TR_EINVAL, 2, "supervisor/restart",
         "unknown key 'restart' in the root supervisor");
    BAD ("supervisor\n    actor = a\n        behaviour = test.echo\n        replicas = 2\n",
         TR_EINVAL, 4, "supervisor/actor/replicas", "unknown key 'replicas' in an actor");
    BAD ("supervisor\n    service = s\n        behaviour = test.echo\n        route = echo\n"
         "            mode = thread\n            retries = 3\n",
         TR_EINVAL, 6, "supervisor/service/route/retries", "in a route");
    //  Shapes: a value where a section goes, keys under a value, no id.
    BAD ("node = big\n", TR_EINVAL, 1, "node", "takes no value");
    BAD ("node\n    threads = 2\n        more = 1\n", TR_EINVAL, 3, "node/threads",
         "takes a value");
    BAD ("supervisor\n    actor\n        behaviour = test.echo\n", TR_EINVAL, 2, "supervisor/actor",
         "needs an id");
    BAD ("supervisor\n    service = s\n        behaviour = test.echo\n        route\n", TR_EINVAL,
         4, "supervisor/service/route", "needs a message type");
    //  A single key twice.
    BAD ("node\n    threads = 2\n    name = n\n    threads = 3\n", TR_EINVAL, 4, "node/threads",
         "given twice (first on line 2)");
    BAD ("node\nsupervisor\nnode\n", TR_EINVAL, 3, "node", "given twice (first on line 1)");
}

static void
test_value_errors (void)
{
    BAD ("node\n    threads = \"x\"\n", TR_EINVAL, 2, "node/threads",
         "expected an integer from 0 to 126, got 'x'");
    BAD ("node\n    threads = 500\n", TR_EINVAL, 2, "node/threads", "from 0 to 126, got '500'");
    BAD ("node\n    threads = 2.5\n", TR_EINVAL, 2, "node/threads", "got '2.5'");
    BAD ("node\n    threads = 99999999999999999999\n", TR_EINVAL, 2, "node/threads", "integer");
    BAD ("node\n    mailbox_limit = -5\n", TR_EINVAL, 2, "node/mailbox_limit",
         "from 1 to 4294967295");
    BAD ("node\n    stop_timeout_ms = -1\n", TR_EINVAL, 2, "node/stop_timeout_ms", "0 or more");
    BAD ("node\n    max_payload = 12X\n", TR_EINVAL, 2, "node/max_payload", "size in bytes");
    BAD ("node\n    max_payload = 0\n", TR_EINVAL, 2, "node/max_payload", "1 or more");
    BAD ("node\n    no_processes = maybe\n", TR_EINVAL, 2, "node/no_processes", "true or false");
    BAD ("node\n    overflow = drop\n", TR_EINVAL, 2, "node/overflow",
         "expected one of: fail, drop_newest, drop_oldest, block; got 'drop'");
    BAD ("node\n    name = \"two words\"\n", TR_EINVAL, 2, "node/name", "no spaces");
    BAD ("node\n    threads = 100\n    loops = 20\n    dedicated_threads = 20\n", TR_EINVAL, 4,
         "node/dedicated_threads", "at most 127");
    BAD ("supervisor\n    strategy = one_for_some\n", TR_EINVAL, 2, "supervisor/strategy",
         "one_for_one, one_for_all, rest_for_one");
    BAD ("supervisor\n    intensity = 0\n", TR_EINVAL, 2, "supervisor/intensity", "1 or more");
    BAD ("supervisor\n    backoff_ms = 100\n    backoff_max_ms = 50\n", TR_EINVAL, 3,
         "supervisor/backoff_max_ms", "below backoff_ms");
    BAD ("supervisor\n    actor = a\n        behaviour = test.echo\n        restart = always\n",
         TR_EINVAL, 4, "supervisor/actor/restart", "permanent, transient, temporary");
    BAD ("node\n    threads = 2\nsupervisor\n    actor = a\n        behaviour = test.echo\n"
         "        thread = 2\n",
         TR_EINVAL, 6, "supervisor/actor/thread", "from 0 to 1");
    BAD ("supervisor\n    actor = a\n        behaviour = \"bad name\"\n", TR_EINVAL, 3,
         "supervisor/actor/behaviour", "no spaces");
}

static void
test_tree_errors (void)
{
    //  Behaviours must be registered (after the load list ran).
    BAD ("supervisor\n    actor = a\n        behaviour = test.nobody\n", TR_EUNKNOWN_BEHAVIOUR, 3,
         "supervisor/actor/behaviour", "no behaviour 'test.nobody' is registered");
    BAD ("supervisor\n    supervisor = inner\n        service = s\n"
         "            behaviour = test.nobody\n",
         TR_EUNKNOWN_BEHAVIOUR, 4, "supervisor/supervisor/service/behaviour", "test.nobody");
    BAD ("supervisor\n    actor = a\n        behaviour = tr.supervisor\n", TR_EINVAL, 3,
         "supervisor/actor/behaviour", "belong to the runtime");
    BAD ("supervisor\n    actor = a\n        name = a\n", TR_EINVAL, 2, "supervisor/actor",
         "actor 'a' needs a behaviour");
    //  Ids: unique among siblings; a supervisor cannot nest in its own id
    //  (a tree is nested by indentation, so it cannot refer to itself).
    BAD ("supervisor\n    actor = a\n        behaviour = test.echo\n    pool = a\n"
         "        behaviour = test.echo\n",
         TR_EINVAL, 4, "supervisor/pool",
         "child id 'a' is used twice in this supervisor (first "
         "on line 2)");
    BAD ("supervisor\n    supervisor = s\n        supervisor = t\n            supervisor = s\n",
         TR_EINVAL, 4, "supervisor/supervisor/supervisor/supervisor",
         "inside a supervisor with the same id (line 2)");
    BAD ("supervisor\n    actor = \"a b\"\n        behaviour = test.echo\n", TR_EINVAL, 2,
         "supervisor/actor", "not a child id");
    //  Registered names: once in the node, not the runtime's.
    BAD ("supervisor\n    actor = a\n        behaviour = test.echo\n        name = x\n"
         "    supervisor = inner\n        actor = b\n            behaviour = test.echo\n"
         "            name = x\n",
         TR_EINVAL, 8, "supervisor/supervisor/actor/name", "already given on line 4");
    BAD ("supervisor\n    actor = a\n        behaviour = test.echo\n        name = tr.root\n",
         TR_EINVAL, 4, "supervisor/actor/name", "belong to the runtime");
    //  Pools.
    BAD ("node\n    no_processes = true\nsupervisor\n    pool = p\n        behaviour = test.echo\n",
         TR_ENOTSUP, 4, "supervisor/pool", "no_processes is true (line 2)");
    BAD ("supervisor\n    pool = p\n        behaviour = test.echo\n        command = \"cat\"\n",
         TR_EINVAL, 4, "supervisor/pool/command", "not both");
    BAD ("supervisor\n    pool = p\n        replicas = 2\n", TR_EINVAL, 2, "supervisor/pool",
         "needs a behaviour");
    BAD ("supervisor\n    pool = p\n        behaviour = test.echo\n        spares = 17\n",
         TR_EINVAL, 4, "supervisor/pool/spares", "from 0 to 16");
    BAD ("supervisor\n    pool = p\n        behaviour = test.echo\n        heartbeat_ms = 500\n"
         "        heartbeat_timeout_ms = 400\n",
         TR_EINVAL, 5, "supervisor/pool/heartbeat_timeout_ms", "longer than heartbeat_ms");
    BAD ("supervisor\n    pool = p\n        command = \"cat\"\n        arg = x\n", TR_EINVAL, 4,
         "supervisor/pool/arg", "no arg");
    //  A missing shared object.
    BAD ("load = \"libtroupe-no-such-module.so\"\n", TR_ENOENT, 1, "load",
         "cannot load: libtroupe-no-such-module.so: cannot open");
    BAD ("node\n    threads = 1\nload = \"\"\n", TR_EINVAL, 3, "load", "expected a shared object");
}

static void
test_route_errors (void)
{
    //  Each case is this service with one more route line (line 5 on).
#define SERVICE "supervisor\n    service = s\n        behaviour = test.echo\n        route = echo\n"
    BAD (SERVICE "            mode = fast\n", TR_EINVAL, 5, "supervisor/service/route/mode",
         "expected one of: thread, thread:dedicated, process, async, auto; got 'fast'");
    BAD (SERVICE "            replicas = -1\n", TR_EINVAL, 5, "supervisor/service/route/replicas",
         "from 1 to 256");
    BAD (SERVICE "            balance = random\n", TR_EINVAL, 5, "supervisor/service/route/balance",
         "round_robin, least_loaded, hash");
    BAD (SERVICE "            key_size = 8\n", TR_EINVAL, 5, "supervisor/service/route/key_size",
         "needs balance = hash");
    BAD (SERVICE "            balance = round_robin\n            key_offset = 4\n", TR_EINVAL, 6,
         "supervisor/service/route/key_offset", "needs balance = hash");
    BAD (SERVICE "            mode = process\n            balance = hash\n", TR_EINVAL, 6,
         "supervisor/service/route/balance", "balanced by their pool");
    BAD (SERVICE "            max_in_flight = 4\n            overflow = spill\n", TR_EINVAL, 6,
         "supervisor/service/route/overflow", "fail, queue, drop");
    BAD (SERVICE "            overflow = queue\n", TR_EINVAL, 5,
         "supervisor/service/route/overflow", "needs max_in_flight");
    BAD (SERVICE "            max_in_flight = 4\n            queue_limit = 10\n", TR_EINVAL, 6,
         "supervisor/service/route/queue_limit", "needs overflow = queue");
    BAD (SERVICE "            deadline_ms = 0\n", TR_EINVAL, 5,
         "supervisor/service/route/deadline_ms", "1 or more");
    BAD (SERVICE "        route = echo\n", TR_EINVAL, 5, "supervisor/service/route",
         "route 'echo' given twice in this service (first on line 4)");
    BAD (SERVICE "        route = \"get*\"\n", TR_EINVAL, 5, "supervisor/service/route",
         "only \"*\" alone");
    BAD (SERVICE "        route = \"two words\"\n", TR_EINVAL, 5, "supervisor/service/route",
         "not a message type");
    BAD (SERVICE "        route = tr.down\n", TR_EINVAL, 5, "supervisor/service/route",
         "not routed");
    BAD (SERVICE "        process\n            spares = 1\n", TR_EINVAL, 5,
         "supervisor/service/process", "no route of this service has mode process");
    BAD ("node\n    no_processes = yes\n" SERVICE "            mode = process\n", TR_ENOTSUP, 7,
         "supervisor/service/route/mode", "no_processes is true (line 2)");
    BAD ("node\n    loops = 0\n" SERVICE "            mode = async\n", TR_ENOTSUP, 7,
         "supervisor/service/route/mode", "node/loops is 0");
    BAD ("node\n    dedicated_threads = 0\n" SERVICE "            mode = thread:dedicated\n",
         TR_ENOTSUP, 7, "supervisor/service/route/mode", "node/dedicated_threads is 0");
    BAD ("node\n    dedicated_threads = 3\n" SERVICE "            mode = thread:dedicated\n"
         "            replicas = 2\n"
         "    service = t\n        behaviour = test.echo\n        route = \"*\"\n"
         "            mode = dedicated\n            replicas = 2\n",
         TR_EINVAL, 12, "supervisor/service/route/mode", "need 4 dedicated threads");
#undef SERVICE
}

//  --------------------------------------------------------------------------
//  A good config

static const char s_good[] = "#   a node for test_config\n"
                             "node\n"
                             "    name = cfgtest\n"
                             "    threads = 2\n"
                             "    mailbox_limit = 1000\n"
                             "    overflow = drop_oldest\n"
                             "    max_payload = 2M\n"
                             "    stop_timeout_ms = 3000\n"
                             "    loops = 1\n"
                             "    dedicated_threads = 1\n"
                             "\n"
                             "supervisor\n"
                             "    strategy = rest_for_one\n"
                             "    intensity = 4\n"
                             "    period_ms = 2000\n"
                             "    actor = greeter\n"
                             "        behaviour = test.greeter\n"
                             "        name = greeter\n"
                             "        arg = \"hello\"\n"
                             "        thread = 1\n"
                             "        restart = transient\n"
                             "    pool = echoes\n"
                             "        behaviour = test.echo\n"
                             "        name = echoes\n"
                             "        replicas = 2\n"
                             "        spares = 0\n"
                             "        memory_limit = 64M\n"
                             "    service = echo\n"
                             "        behaviour = test.echo\n"
                             "        name = echo\n"
                             "        route = echo\n"
                             "            mode = thread\n"
                             "            replicas = 2\n"
                             "            balance = hash\n"
                             "            key_offset = 0\n"
                             "            key_size = 4\n"
                             "            max_in_flight = 8\n"
                             "            overflow = queue\n"
                             "            queue_limit = 16\n"
                             "        route = *\n"
                             "            mode = thread:dedicated\n"
                             "            deadline_ms = 2000\n"
                             "    supervisor = inner\n"
                             "        strategy = one_for_all\n"
                             "        name = inner\n"
                             "        actor = deep\n"
                             "            behaviour = test.greeter\n"
                             "            name = deep\n"
                             "            arg = 'hi'\n";

//  Call name's type with payload; the reply must be expected.
static void
s_call_expect (tr_runtime_t *rt, const char *name, const char *type, const char *payload,
               const char *expected)
{
    tr_ref_t ref = TR_REF_NONE;
    for (int i = 0; i < 500 && ref == TR_REF_NONE; i++) {
        ref = tr_whereis (rt, name);
        if (ref == TR_REF_NONE)
            usleep (10 * 1000);
    }
    TR_ASSERT (ref != TR_REF_NONE);
    void *reply = NULL;
    size_t size = 0;
    int rc = TR_ETIMEDOUT;
    //  A pool's children may still be starting: retry a little.
    for (int i = 0; i < 50; i++) {
        rc = tr_call (rt, ref, tr_type (type), payload, strlen (payload), 2000, &reply, &size);
        if (rc == 0)
            break;
        usleep (20 * 1000);
    }
    TR_CHECK (rc);
    if (size != strlen (expected) || memcmp (reply, expected, size) != 0) {
        fprintf (stderr, "test_config: FAIL: %s %s: got '%.*s', expected '%s'\n", name, type,
                 (int) size, (const char *) reply, expected);
        exit (1);
    }
    tr_free (reply);
}

static void
test_good_config (void)
{
    const char *written = s_write (s_good, strlen (s_good));
    char path[256];
    snprintf (path, sizeof path, "%s", written);
    tr_config_error_t error;
    TR_CHECK (tr_config_check (path, &error));
    tr_config_t *config = tr_config_load (path, &error);
    TR_ASSERT (config);

    //  What the file says, as specs.
    const tr_options_t *options = tr_config_options (config);
    TR_ASSERT (strcmp (options->name, "cfgtest") == 0);
    TR_ASSERT_EQ_INT (options->threads, 2);
    TR_ASSERT_EQ_INT (options->mailbox_limit, 1000);
    TR_ASSERT_EQ_INT (options->overflow, TR_OVERFLOW_DROP_OLDEST);
    TR_ASSERT_EQ_INT (options->max_payload, 2 << 20);
    TR_ASSERT_EQ_INT (options->stop_timeout_ms, 3000);
    TR_ASSERT_EQ_INT (options->loops, 1);
    TR_ASSERT_EQ_INT (options->dedicated_threads, 1);
    TR_ASSERT (!options->no_processes);
    const tr_supervisor_spec_t *root = tr_config_root (config);
    TR_ASSERT (root);
    TR_ASSERT_EQ_INT (root->strategy, TR_REST_FOR_ONE);
    TR_ASSERT_EQ_INT (root->intensity, 4);
    TR_ASSERT_EQ_INT (root->period_ms, 2000);
    TR_ASSERT_EQ_INT (root->backoff_ms, 0);  //  absent: the runtime's default
    TR_ASSERT_EQ_INT (root->child_count, 4);
    const tr_child_spec_t *greeter = &root->children[0];
    TR_ASSERT (strcmp (greeter->id, "greeter") == 0);
    TR_ASSERT (strcmp (greeter->behaviour, "test.greeter") == 0);
    TR_ASSERT_EQ_INT (greeter->arg_size, 6);
    TR_ASSERT (memcmp (greeter->arg, "hello", 6) == 0);
    TR_ASSERT_EQ_INT (greeter->thread, 2);  //  thread 1, as placement 1 + 1
    TR_ASSERT_EQ_INT (greeter->restart, TR_TRANSIENT);
    const tr_child_spec_t *pool = &root->children[1];
    TR_ASSERT (pool->process && strcmp (pool->process->behaviour, "test.echo") == 0);
    TR_ASSERT_EQ_INT (pool->process->replicas, 2);
    TR_ASSERT_EQ_INT (pool->process->spares, TR_NO_SPARES);
    TR_ASSERT_EQ_INT (pool->process->memory_limit, 64 << 20);
    const tr_child_spec_t *service = &root->children[2];
    TR_ASSERT (service->service && service->service->route_count == 2);
    const tr_route_t *route = &service->service->routes[0];
    TR_ASSERT (strcmp (route->type, "echo") == 0);
    TR_ASSERT_EQ_INT (route->mode, TR_MODE_THREAD);
    TR_ASSERT_EQ_INT (route->replicas, 2);
    TR_ASSERT_EQ_INT (route->balance, TR_BALANCE_HASH);
    TR_ASSERT_EQ_INT (route->key_size, 4);
    TR_ASSERT_EQ_INT (route->max_in_flight, 8);
    TR_ASSERT_EQ_INT (route->overflow, TR_ROUTE_QUEUE);
    TR_ASSERT_EQ_INT (route->queue_limit, 16);
    TR_ASSERT (strcmp (service->service->routes[1].type, "*") == 0);
    TR_ASSERT_EQ_INT (service->service->routes[1].mode, TR_MODE_DEDICATED);
    TR_ASSERT_EQ_INT (service->service->routes[1].deadline_ms, 2000);
    const tr_child_spec_t *inner = &root->children[3];
    TR_ASSERT (inner->supervisor && inner->supervisor->child_count == 1);
    TR_ASSERT_EQ_INT (inner->supervisor->strategy, TR_ONE_FOR_ALL);
    TR_ASSERT (strcmp (inner->supervisor->children[0].id, "deep") == 0);

    //  The node it builds answers: an actor, a pool, a service, a nested actor.
    tr_runtime_t *rt = tr_config_start (config, &error);
    if (!rt)
        fprintf (stderr, "test_config: %s:%d: %s: %s\n", error.file, error.line, error.key,
                 error.message);
    TR_ASSERT (rt);
    tr_config_destroy (&config);  //  the runtime copied what it needs
    TR_ASSERT (config == NULL);
    TR_ASSERT_EQ_INT (tr_runtime_threads (rt), 2);
    TR_ASSERT (tr_whereis (rt, "tr.root") != TR_REF_NONE);
    s_call_expect (rt, "greeter", "greet", "world", "hello, world");
    s_call_expect (rt, "deep", "greet", "there", "hi, there");
    s_call_expect (rt, "echoes", "echo", "pool", "pool");
    s_call_expect (rt, "echo", "echo", "routed", "routed");
    s_call_expect (rt, "echo", "echo2", "fallback", "fallback");  //  the "*" route
    TR_ASSERT_EQ_INT (tr_runtime_wait (rt, 0), TR_ETIMEDOUT);     //  the root runs
    tr_runtime_destroy (&rt);

    //  The one-call way.
    rt = tr_runtime_new_from_config (path, &error);
    TR_ASSERT (rt);
    s_call_expect (rt, "greeter", "greet", "again", "hello, again");
    //  Wait for the pool too: a pool whose spawn order is still on its way
    //  when the runtime is destroyed leaks its spec's strings (runtime bug).
    s_call_expect (rt, "echoes", "echo", "up", "up");
    tr_runtime_destroy (&rt);
}

//  Files with no tree, or nothing at all, are good too.
static void
test_small_configs (void)
{
    tr_config_error_t error;
    const char *path = s_write ("", 0);
    tr_config_t *config = tr_config_load (path, &error);
    TR_ASSERT (config);
    TR_ASSERT (tr_config_root (config) == NULL);
    TR_ASSERT_EQ_INT (tr_config_options (config)->mailbox_limit, 65536);  //  the defaults
    tr_config_destroy (&config);
    tr_config_destroy (&config);  //  NULL-safe

    const char *text = "node\n    threads = 1\n    no_processes = on\n    max_payload = 1K\n";
    path = s_write (text, strlen (text));
    config = tr_config_load (path, &error);
    TR_ASSERT (config);
    TR_ASSERT_EQ_INT (tr_config_options (config)->max_payload, 1024);
    tr_runtime_t *rt = tr_config_start (config, &error);
    TR_ASSERT (rt);
    TR_ASSERT_EQ_INT (tr_runtime_threads (rt), 1);
    tr_runtime_destroy (&rt);
    tr_config_destroy (&config);

    //  A shared object that does not exist, by path, from a program.
    TR_ASSERT_EQ_INT (tr_config_load_object ("/nonexistent/libx.so", &error), TR_ENOENT);
    TR_ASSERT (strstr (error.message, "cannot load"));
    TR_ASSERT_EQ_INT (tr_config_load_object (NULL, NULL), TR_EINVAL);
}

int
main (void)
{
    TR_ASSERT (mkdtemp (s_dir));
    TR_CHECK (tr_behaviour_register (&s_greeter));
    TR_CHECK (tr_behaviour_register (&s_echoer));

    test_zpl_agrees_with_zconfig ();
    test_syntax_errors ();
    test_key_errors ();
    test_value_errors ();
    test_tree_errors ();
    test_route_errors ();
    test_small_configs ();
    test_good_config ();

    char command[300];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    TR_ASSERT (system (command) == 0);
    TR_PASS ();
    return 0;
}
