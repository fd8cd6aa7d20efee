//  log - one wrapper for every log line the runtime writes
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int s_level = -1;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_read_level (void)
{
    const char *env = getenv ("TR_LOG");
    s_level = TR__LOG_WARNING;
    if (!env)
        return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    for (int level = 0; level < 4; level++)
        if (strcmp (env, names[level]) == 0)
            s_level = level;
}

int
tr__log_enabled (int level)
{
    pthread_once (&s_once, s_read_level);
    return level <= s_level;
}

void
tr__log (int level, const char *module, const char *format, ...)
{
    if (!tr__log_enabled (level))
        return;
    static const char letters[] = "EWID";
    char stamp[32];
    time_t now = time (NULL);
    struct tm tm;
    localtime_r (&now, &tm);
    strftime (stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);

    //  One fprintf per line so lines from threads do not interleave.
    char text[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    fprintf (stderr, "%c: %s %s: %s\n", letters[level], stamp, module, text);
}
