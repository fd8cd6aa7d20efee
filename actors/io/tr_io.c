//  tr_io - what the Redis and PostgreSQL clients of troupe_io share
#include "troupe_io.h"

const char *
tr_io_strerror (int rc)
{
    switch (rc) {
        case TR_EIO_CONNECT: return "could not connect to the server";
        case TR_EIO_CLOSED: return "connection lost or closed before the answer";
        case TR_EIO_SERVER: return "the server answered with an error";
        default: return tr_strerror (rc);
    }
}
