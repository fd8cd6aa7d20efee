#!/usr/bin/python3
"""actor.py - a troupe process actor in Python 3 (see docs/protocol.md).

The node runs it as `/bin/sh -c "exec <command>"` with TROUPE_ENDPOINT,
TROUPE_REPLICA, TROUPE_HEARTBEAT_MS and TROUPE_MAX_PAYLOAD set. It handles:
  py.upper    request: the payload upper-cased
  py.add      request: two little-endian int64 -> their sum (int64)
  py.crash    exits 1 at once, unanswered (the node restarts and redelivers)
  py.garbage  confirms the message, then sends a malformed message
  other       request: error TR_EUNKNOWN_TYPE; one-way: acknowledged
A payload sent in shared memory (flag SHM) is read from its segment first.
Needs Debian's python3-zmq.
"""
import mmap
import os
import signal
import struct
import sys
import time

import zmq

MAGIC, VERSION = 0x5254, 2                        # bytes "TR", wire version
HELLO, MSG, HEARTBEAT, BYE, ACK = 1, 2, 3, 4, 5   # kinds
REQUEST, REPLY, ERROR, SHM = 0x1, 0x2, 0x4, 0x8   # flags
HEAD = struct.Struct("<HBBIQQQQ")  # magic ver kind flags corr to from size: 40 bytes
SHM_HANDLE = struct.Struct("<IIIIQQ")  # magic pid fd reserved size holder: 32 bytes
SHM_MAGIC = 0x48535254  # bytes "TRSH"
TR_EINVAL, TR_EMSGSIZE, TR_EUNKNOWN_TYPE = -22, -90, -4001

replica = int(os.environ["TROUPE_REPLICA"])
beat_s = int(os.environ.get("TROUPE_HEARTBEAT_MS", "100")) / 1000.0
max_payload = int(os.environ.get("TROUPE_MAX_PAYLOAD", str(64 << 20)))


def frame(kind, flags=0, corr=0, type_name=b"", payload=b""):
    """One message, one frame: header, type name, payload; to and from 0."""
    return HEAD.pack(MAGIC, VERSION, kind, flags, corr, 0, 0, len(payload)) \
        + type_name + payload


def error(code):
    """An error reply's payload: the int32 code."""
    return struct.pack("<i", code)


def shm_read(handle):
    """The bytes of the shared-memory segment a SHM payload names, or None.
    The node keeps the segment open until we answer; we map it read-only
    through its fd table (and copy it, to keep this example short)."""
    if len(handle) != SHM_HANDLE.size:
        return None
    magic, pid, fd, _, size, _ = SHM_HANDLE.unpack(handle)
    try:
        with open("/proc/%d/fd/%d" % (pid, fd), "rb") as segment, \
                mmap.mmap(segment.fileno(), size, prot=mmap.PROT_READ) as data:
            return data[:] if magic == SHM_MAGIC else None
    except (OSError, ValueError):
        return None


def handle(sock, flags, corr, type_name, payload):
    """Handle one MSG from the node, then answer it: a reply for a request,
    an ACK for a one-way message. Until that answer reaches the node, the
    node holds the message and gives it to a new child if this one dies, so
    handling must be idempotent."""
    request = flags & REQUEST
    failed = False
    if flags & SHM:
        payload = shm_read(payload)
    if payload is None:
        answer, failed = error(TR_EINVAL), True
    elif type_name == b"py.upper":
        answer = payload.upper()
    elif type_name == b"py.add" and len(payload) == 16:
        a, b = struct.unpack("<qq", payload)
        answer = struct.pack("<q", (a + b + 2**63) % 2**64 - 2**63)  # wraps as int64
    elif type_name == b"py.add":
        answer, failed = error(TR_EINVAL), True
    elif type_name == b"py.crash":
        os._exit(1)  # no reply: the node redelivers until max_retries -> poison
    elif type_name == b"py.garbage":
        # Confirm first, so the node does not redeliver it to our successor
        # (which would misbehave the same way until the message is poison);
        # then a header whose size is more than the frame holds: malformed.
        # The node counts it, SIGKILLs us and starts a new child.
        if request:
            sock.send(frame(MSG, REPLY, corr, type_name))
        else:
            sock.send(frame(ACK, 0, corr))
        sock.send(HEAD.pack(MAGIC, VERSION, MSG, 0, 0, 0, 0, 100) + type_name)
        return
    else:
        answer, failed = error(TR_EUNKNOWN_TYPE), request
    if not request:
        sock.send(frame(ACK, 0, corr))  # one-way: handled
        return
    if len(answer) > max_payload:  # the node would take it for malformed
        answer, failed = error(TR_EMSGSIZE), True
    # A reply is a MSG: REPLY (| ERROR), the request's corr, a type name.
    sock.send(frame(MSG, REPLY | (ERROR if failed else 0), corr, type_name,
                    answer))


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # ^C: die quietly, like C children
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    # Our identity on the node's ROUTER: the replica id, 8 bytes little-endian.
    sock.setsockopt(zmq.ROUTING_ID, struct.pack("<Q", replica))
    sock.connect(os.environ["TROUPE_ENDPOINT"])
    sock.send(frame(HELLO, payload=struct.pack("<QQ", replica, os.getpid())))

    next_beat = time.monotonic() + beat_s
    while True:
        # Heartbeat on time: the node kills a child silent for too long.
        now = time.monotonic()
        if now >= next_beat:
            sock.send(frame(HEARTBEAT))
            next_beat = now + beat_s
        if not sock.poll(max(1, int((next_beat - now) * 1000) + 1)):
            continue
        while True:  # everything that is there now
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(parts) != 1 or len(parts[0]) < HEAD.size:
                sys.exit("actor.py: bad frame from the node")
            data = parts[0]
            magic, version, kind, flags, corr, _to, _from, size = HEAD.unpack_from(data)
            if magic != MAGIC or version != VERSION or size > len(data) - HEAD.size:
                sys.exit("actor.py: bad header from the node")
            if kind == BYE:
                os._exit(0)  # the node says: exit now
            if kind == MSG and not flags & REPLY:
                end = len(data) - size  # the type name is what lies between
                handle(sock, flags, corr, data[HEAD.size:end], data[end:])


if __name__ == "__main__":
    main()
