//  troupe - the command: run a node from a config file, check a config file
//  (docs/cli.md)
//
//  Exit status: 0 done; 1 the config (or a shared object) is bad, or the
//  node could not start; 2 bad arguments (usage on stderr); 70 the root
//  supervisor gave up (TR_EXIT_ESCALATED).
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#define S_EXIT_OK    0
#define S_EXIT_ERROR 1
#define S_EXIT_USAGE 2

//  argv[0] of a subcommand, for getopt's messages.
static char s_run_name[] = "troupe run";
static char s_config_check_name[] = "troupe config check";

static const char s_usage[] =
    "usage: troupe [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run [--load SO]... CONFIG           start the node CONFIG describes; SIGINT or\n"
    "                                      SIGTERM stops it\n"
    "  config check [--load SO]... CONFIG  check CONFIG; print ok, or FILE:LINE: key: what\n"
    "                                      is wrong\n"
    "  help [COMMAND]                      show the help of a command\n"
    "\n"
    "Exit status: 0 ok, 1 bad config or failed start, 2 bad arguments, 70 the root\n"
    "supervisor gave up. docs/cli.md and docs/config.md have the details.\n";

static const char s_run_help[] =
    "usage: troupe run [--load SO]... CONFIG\n"
    "\n"
    "Load the shared objects (--load, then CONFIG's `load` list), check CONFIG, create\n"
    "and start the node it describes and its root supervisor, and run until SIGINT or\n"
    "SIGTERM; then stop every actor and process and exit 0. Exits 70 when the root\n"
    "supervisor gives up, 1 when CONFIG is bad or the node cannot start.\n"
    "\n"
    "  -l, --load SO   load the shared object SO first (its constructor registers\n"
    "                  behaviours); may be given more than once\n"
    "  -h, --help      show this help\n"
    "\n"
    "A shared object named without '/' is looked for in the directories of\n"
    "TROUPE_LOAD_PATH (':'-separated), then by the dynamic linker.\n";

static const char s_config_help[] =
    "usage: troupe config check [--load SO]... CONFIG\n"
    "\n"
    "Check CONFIG without starting anything: its syntax, every key and value, and\n"
    "the behaviours it names (after loading --load and CONFIG's `load` list). Prints\n"
    "ok and exits 0, or prints the first problem as FILE:LINE: key: message on stderr\n"
    "and exits 1.\n"
    "\n"
    "  -l, --load SO   load the shared object SO first; may be given more than once\n"
    "  -h, --help      show this help\n";

//  Bad arguments: say what, show the usage, exit 2.
__attribute__ ((format (printf, 2, 3))) static int
s_bad_arguments (const char *usage, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "troupe: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    fputs (usage, stderr);
    return S_EXIT_USAGE;
}

//  FILE:LINE: key: message (FILE: message when no line is known).
static void
s_print_error (const tr_config_error_t *error)
{
    const char *file = error->file[0] ? error->file : "troupe";
    if (error->line > 0 && error->key[0])
        fprintf (stderr, "%s:%d: %s: %s\n", file, error->line, error->key, error->message);
    else if (error->line > 0)
        fprintf (stderr, "%s:%d: %s\n", file, error->line, error->message);
    else
        fprintf (stderr, "%s: %s\n", file, error->message);
}

//  The options run and config check share. Returns -1 to go on (and
//  *config set), else an exit status.
static int
s_parse (int argc, char **argv, const char *help, const char ***loads, int *load_count,
         const char **config)
{
    static const struct option options[] = {
        {"load", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *loads = calloc ((size_t) argc, sizeof **loads);
    if (!*loads)
        abort ();
    *load_count = 0;
    optind = 1;
    int option;
    while ((option = getopt_long (argc, argv, "l:h", options, NULL)) != -1) {
        if (option == 'l')
            (*loads)[(*load_count)++] = optarg;
        else if (option == 'h') {
            fputs (help, stdout);
            return S_EXIT_OK;
        }
        else {
            fputs (help, stderr);  //  getopt said what was wrong
            return S_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return s_bad_arguments (help, "%s: no CONFIG file given", argv[0]);
    if (argc - optind > 1)
        return s_bad_arguments (help, "%s: one CONFIG file only (extra arguments)", argv[0]);
    *config = argv[optind];
    return -1;
}

//  Load the --load shared objects; 0 or an exit status.
static int
s_load (const char **loads, int load_count)
{
    for (int i = 0; i < load_count; i++) {
        tr_config_error_t error;
        if (tr_config_load_object (loads[i], &error) != 0) {
            s_print_error (&error);
            return S_EXIT_ERROR;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  troupe config check

static int
s_config_check (int argc, char **argv)
{
    const char **loads = NULL, *path = NULL;
    int load_count = 0;
    int status = s_parse (argc, argv, s_config_help, &loads, &load_count, &path);
    if (status < 0)
        status = s_load (loads, load_count);
    else
        path = NULL;  //  help shown, or bad arguments
    if (status == 0 && path) {
        tr_config_error_t error;
        if (tr_config_check (path, &error) == 0)
            printf ("ok\n");
        else {
            s_print_error (&error);
            status = S_EXIT_ERROR;
        }
    }
    free (loads);
    return status;
}

//  --------------------------------------------------------------------------
//  troupe run

static int
s_run (int argc, char **argv)
{
    //  SIGINT and SIGTERM are taken with sigtimedwait, never delivered: they
    //  are blocked before any thread exists (the runtime's threads, libzmq's
    //  and any a module starts inherit the mask).
    sigset_t stop_signals;
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);

    const char **loads = NULL, *path = NULL;
    int load_count = 0;
    int status = s_parse (argc, argv, s_run_help, &loads, &load_count, &path);
    if (status >= 0) {
        free (loads);
        return status;  //  help shown, or bad arguments
    }
    status = s_load (loads, load_count);
    free (loads);
    if (status != 0)
        return status;

    tr_config_error_t error;
    tr_config_t *config = tr_config_load (path, &error);
    tr_runtime_t *rt = config ? tr_config_start (config, &error) : NULL;
    if (!rt) {
        s_print_error (&error);
        tr_config_destroy (&config);
        return S_EXIT_ERROR;
    }
    char name[64];
    snprintf (name, sizeof name, "%s", tr_config_options (config)->name);
    tr_config_destroy (&config);
    fprintf (stderr, "troupe: node %s running (pid %d); SIGINT or SIGTERM stops it\n", name,
             (int) getpid ());

    //  Wait for a stop signal, and look at the root supervisor every 100 ms.
    int stopped_by = 0;
    status = S_EXIT_OK;
    while (true) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        int signal_number = sigtimedwait (&stop_signals, NULL, &tick);
        if (signal_number > 0) {
            stopped_by = signal_number;
            break;
        }
        if (signal_number < 0 && errno != EAGAIN && errno != EINTR) {
            fprintf (stderr, "troupe: sigtimedwait: %s\n", strerror (errno));
            status = S_EXIT_ERROR;
            break;
        }
        int exit_status = tr_runtime_wait (rt, 0);
        if (exit_status != TR_ETIMEDOUT) {
            status = exit_status;
            fprintf (stderr, "troupe: node %s: the root supervisor gave up (exit %d)\n", name,
                     status);
            break;
        }
    }
    tr_runtime_destroy (&rt);
    if (stopped_by)
        fprintf (stderr, "troupe: node %s stopped (%s)\n", name,
                 stopped_by == SIGINT ? "SIGINT" : "SIGTERM");
    return status;
}

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    if (argc < 2)
        return s_bad_arguments (s_usage, "no command given");
    const char *command = argv[1];
    if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0) {
        if (argc > 2)
            return s_bad_arguments (s_usage, "%s takes no arguments", command);
        fputs (s_usage, stdout);
        return S_EXIT_OK;
    }
    if (strcmp (command, "--version") == 0 || strcmp (command, "-V") == 0) {
        if (argc > 2)
            return s_bad_arguments (s_usage, "%s takes no arguments", command);
        printf ("troupe %d.%d.%d\n", TR_VERSION_MAJOR, TR_VERSION_MINOR, TR_VERSION_PATCH);
        return S_EXIT_OK;
    }
    if (strcmp (command, "help") == 0) {
        if (argc > 3)
            return s_bad_arguments (s_usage, "help: one COMMAND at most");
        const char *topic = argc == 3 ? argv[2] : NULL;
        if (!topic)
            fputs (s_usage, stdout);
        else if (strcmp (topic, "run") == 0)
            fputs (s_run_help, stdout);
        else if (strcmp (topic, "config") == 0)
            fputs (s_config_help, stdout);
        else
            return s_bad_arguments (s_usage, "help: no command '%s'", topic);
        return S_EXIT_OK;
    }
    if (strcmp (command, "run") == 0) {
        argv[1] = s_run_name;  //  getopt's messages name the command
        return s_run (argc - 1, argv + 1);
    }
    if (strcmp (command, "config") == 0) {
        if (argc >= 3 && (strcmp (argv[2], "--help") == 0 || strcmp (argv[2], "-h") == 0)) {
            fputs (s_config_help, stdout);
            return S_EXIT_OK;
        }
        if (argc < 3)
            return s_bad_arguments (s_config_help, "config: no subcommand given (check)");
        if (strcmp (argv[2], "check") != 0)
            return s_bad_arguments (s_config_help, "config: unknown subcommand '%s'", argv[2]);
        argv[2] = s_config_check_name;
        return s_config_check (argc - 2, argv + 2);
    }
    if (command[0] == '-')
        return s_bad_arguments (s_usage, "unknown option '%s'", command);
    return s_bad_arguments (s_usage, "unknown command '%s'", command);
}
