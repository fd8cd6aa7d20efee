//  log - one wrapper for every log line the runtime writes
#ifndef TR_LOG_H_INCLUDED
#define TR_LOG_H_INCLUDED

#define TR__LOG_ERROR   0
#define TR__LOG_WARNING 1
#define TR__LOG_INFO    2
#define TR__LOG_DEBUG   3

//  Write one line "L: yyyy-mm-dd hh:mm:ss module: text" to stderr when level
//  is at or below TR_LOG (error|warning|info|debug; default warning). The
//  format matches czmq's zsys lines, but zsys_* is not called: its first use
//  installs SIGINT/SIGTERM handlers, which an embedded runtime must not do.
__attribute__ ((visibility ("hidden"), format (printf, 3, 4))) void
tr__log (int level, const char *module, const char *format, ...);

//  Whether a line at level would be written (to skip costly formatting).
__attribute__ ((visibility ("hidden"))) int tr__log_enabled (int level);

#define tr__error(module, ...) tr__log (TR__LOG_ERROR, module, __VA_ARGS__)
#define tr__warn(module, ...)  tr__log (TR__LOG_WARNING, module, __VA_ARGS__)
#define tr__info(module, ...)  tr__log (TR__LOG_INFO, module, __VA_ARGS__)
#define tr__debug(module, ...) tr__log (TR__LOG_DEBUG, module, __VA_ARGS__)

#endif
