//  error - names for the TR_E* codes
#include "troupe.h"

const char *
tr_strerror (int rc)
{
    switch (rc) {
        case TR_OK: return "success";
        case TR_EINVAL: return "invalid argument";
        case TR_ENOENT: return "no such name or timer";
        case TR_EEXIST: return "name already registered";
        case TR_EAGAIN: return "mailbox full";
        case TR_EMSGSIZE: return "payload larger than the configured maximum";
        case TR_ETIMEDOUT: return "timed out waiting for a reply";
        case TR_ENOTSUP: return "not supported in this build";
        case TR_EDEAD: return "destination actor is dead or unknown";
        case TR_EUNKNOWN_TYPE: return "no handler for this message type";
        case TR_EUNKNOWN_BEHAVIOUR: return "no behaviour registered by that name";
        case TR_EMALFORMED: return "malformed frame or message";
        case TR_ESTOPPED: return "runtime not running";
        case TR_EFAILED: return "handler failed";
        case TR_EKILLED: return "killed";
        case TR_ELINKED: return "a linked actor died";
        case TR_EOVERFLOW: return "dropped by mailbox overflow policy";
        case TR_ESHUTDOWN: return "runtime shutting down";
        case TR_EINIT: return "actor init failed";
        case TR_ETOOMANY: return "table full";
        case TR_EESCALATED: return "supervisor gave up: restart intensity exceeded";
        case TR_EPOISON: return "poison message: it crashed its process too many times";
        case TR_EHUNG: return "process actor missed its heartbeats";
        case TR_EMEMLIMIT: return "process actor over its memory limit";
        case TR_ECRASHED: return "process actor died";
        default: return rc < 0 ? "unknown error" : "unknown status";
    }
}
