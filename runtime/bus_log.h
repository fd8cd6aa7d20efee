//  bus_log - the event bus's append-only log: records with length, CRC-32
//  and offset, written in batches, made durable by a syncer thread, checked
//  and cut back to its last whole record when opened
#ifndef TR_BUS_LOG_H_INCLUDED
#define TR_BUS_LOG_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The file: a 16-byte head, then records. Every field little-endian.
//    head:   "TRBUSLOG" | u32 version (1) | u32 reserved (0)
//    record: u32 size | u32 crc | u64 offset | u32 topic_size | u32 reserved
//            | topic (topic_size bytes, no NUL) | data (size - topic_size bytes)
//  size counts the bytes after the 24-byte record head; crc is CRC-32 (the
//  zlib / IEEE one) of the size field followed by bytes 8.. to the end.
#define TR__BUS_LOG_MAGIC   "TRBUSLOG"
#define TR__BUS_LOG_VERSION 1u
#define TR__BUS_LOG_HEAD    16u
#define TR__BUS_RECORD_HEAD 24u

typedef struct tr__bus_log tr__bus_log_t;

//  One record, as read. topic and data point into the reader's buffer.
typedef struct {
    uint64_t offset;
    uint64_t pos;  //  file position of its head
    const char *topic;
    size_t topic_size;
    const void *data;
    size_t size;
} tr__bus_record_t;

//  Sequential reads of records in [pos, end) of a file, with pread.
typedef struct {
    int fd;
    uint64_t pos, end;  //  next record at pos
    size_t max_record;  //  bigger records are corrupt
    unsigned char *buffer;
    size_t capacity;
    uint64_t buffer_pos;  //  file position of buffer[0]
    size_t buffer_size;   //  bytes held
} tr__bus_reader_t;

//  CRC-32 (IEEE, as zlib's crc32) of bytes, continuing from crc (0 to start).
TR__HIDDEN uint32_t tr__crc32 (uint32_t crc, const void *bytes, size_t size);

TR__HIDDEN void tr__bus_reader_init (tr__bus_reader_t *self, int fd, uint64_t pos, uint64_t end,
                                     size_t max_record);
TR__HIDDEN void tr__bus_reader_fini (tr__bus_reader_t *self);
//  Read the record at self->pos into *record and move past it. Returns 1,
//  0 at end, TR_EMALFORMED for a bad record (self->pos stays at it; a
//  torn record is one cut by end), TR_EMSGSIZE for a whole record larger
//  than max_record, or TR_EINVAL when the read fails.
TR__HIDDEN int tr__bus_reader_next (tr__bus_reader_t *self, tr__bus_record_t *record);

//  Open (or create, 0600) the log at path and recover it: check every
//  record, cut off what follows the last good one (logged). max_data is
//  the largest data part a record may hold. Returns 0 and *self_p, or
//  TR_EINVAL (cannot open, not a bus log; logged).
TR__HIDDEN int tr__bus_log_open (const char *path, size_t max_data, tr__bus_log_t **self_p);
//  Write what is buffered, stop the syncer, fdatasync, close. NULL-safe.
TR__HIDDEN void tr__bus_log_close (tr__bus_log_t **self_p);
//  Start the syncer thread (from the bus's init). 0 or TR_ETOOMANY.
TR__HIDDEN int tr__bus_log_start (tr__bus_log_t *self);

//  Buffer one record with offset tr__bus_log_next (self). Returns whether
//  the batch should be written now (it holds 256 events or 256 KiB).
TR__HIDDEN bool tr__bus_log_append (tr__bus_log_t *self, const char *topic, size_t topic_size,
                                    const void *data, size_t size);
//  Write the batch with one write call. 0, or TR_EINVAL when the write
//  failed (logged, counted; the log accepts nothing more).
TR__HIDDEN int tr__bus_log_write (tr__bus_log_t *self);
//  Ask the syncer to make everything written so far durable.
TR__HIDDEN void tr__bus_log_sync (tr__bus_log_t *self);

//  Figures (bus thread; synced and syncs are read from the syncer's atomics).
TR__HIDDEN uint64_t tr__bus_log_next (tr__bus_log_t *self);
TR__HIDDEN uint64_t tr__bus_log_written (tr__bus_log_t *self);
//  Events written since the last sync request.
TR__HIDDEN uint64_t tr__bus_log_unsynced (tr__bus_log_t *self);
TR__HIDDEN uint32_t tr__bus_log_buffered (tr__bus_log_t *self);
TR__HIDDEN bool tr__bus_log_failed (tr__bus_log_t *self);
TR__HIDDEN int tr__bus_log_fd (tr__bus_log_t *self);
TR__HIDDEN const char *tr__bus_log_path (tr__bus_log_t *self);
TR__HIDDEN size_t tr__bus_log_max_record (tr__bus_log_t *self);

typedef struct {
    uint64_t written_offset, synced_offset, writes, syncs, log_bytes, recovered, truncated_bytes,
        errors;
} tr__bus_log_stats_t;
TR__HIDDEN void tr__bus_log_stats (tr__bus_log_t *self, tr__bus_log_stats_t *stats);

//  Where to start reading for from_offset: the position and offset of the
//  last indexed record at or before it (a sparse index, one entry in 256).
//  Everything in [pos, written end) is in the file.
TR__HIDDEN void tr__bus_log_seek (tr__bus_log_t *self, uint64_t from_offset, uint64_t *pos,
                                  uint64_t *offset);
//  File position after the last written record.
TR__HIDDEN uint64_t tr__bus_log_end (tr__bus_log_t *self);

#endif
