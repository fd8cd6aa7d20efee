//  bus_log - the event bus's append-only log: records with length, CRC-32
//  and offset, written in batches, made durable by a syncer thread, checked
//  and cut back to its last whole record when opened
#include "bus_log.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#    error "the bus log is written in the host's byte order, which must be little-endian"
#endif

//  A batch is written once it holds this many events or bytes (or when the
//  bus has nothing more queued, whichever comes first).
#define S_BATCH_EVENTS 256u
#define S_BATCH_BYTES  (256u * 1024u)
//  One index entry per this many records (a power of two).
#define S_INDEX_EVERY 256u

typedef struct {
    uint64_t offset, pos;
} s_index_t;

struct tr__bus_log {
    int fd;
    char *path;
    size_t max_record;
    bool failed;  //  a write failed: nothing more is accepted

    //  Bus thread only.
    unsigned char *batch;
    size_t batch_size, batch_capacity;
    uint32_t batch_events;
    uint64_t next_offset;     //  the offset the next record gets
    uint64_t written_offset;  //  records below it are in the file
    uint64_t written_pos;     //  file size after them
    uint64_t requested;       //  written_offset at the last sync request
    uint64_t writes;
    uint64_t recovered, truncated_bytes;
    uint64_t base_offset;  //  the first record's offset
    s_index_t *index;
    size_t index_count, index_capacity;

    //  Shared with the syncer thread, under lock.
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t syncer;
    bool syncer_started;
    bool stop;
    uint64_t sync_target;  //  make records below this durable
    uint64_t sync_done;
    bool sync_failed;  //  an fdatasync failed: synced_offset moves no more
    //  Read by the bus thread for its figures.
    _Atomic uint64_t synced_offset;
    _Atomic uint64_t syncs;
    _Atomic uint64_t errors;
};

//  --------------------------------------------------------------------------
//  CRC-32, slicing by 8 (the IEEE polynomial, as zlib's crc32)

static uint32_t s_crc_table[8][256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void
s_crc_init (void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        s_crc_table[0][i] = crc;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            s_crc_table[k][i] =
                (s_crc_table[k - 1][i] >> 8) ^ s_crc_table[0][s_crc_table[k - 1][i] & 0xff];
}

uint32_t
tr__crc32 (uint32_t crc, const void *bytes, size_t size)
{
    pthread_once (&s_crc_once, s_crc_init);
    const unsigned char *at = bytes;
    crc = ~crc;
    while (size >= 8) {
        uint64_t word;
        memcpy (&word, at, sizeof word);
        word ^= crc;
        crc = s_crc_table[7][word & 0xff] ^ s_crc_table[6][(word >> 8) & 0xff]
              ^ s_crc_table[5][(word >> 16) & 0xff] ^ s_crc_table[4][(word >> 24) & 0xff]
              ^ s_crc_table[3][(word >> 32) & 0xff] ^ s_crc_table[2][(word >> 40) & 0xff]
              ^ s_crc_table[1][(word >> 48) & 0xff] ^ s_crc_table[0][word >> 56];
        at += 8;
        size -= 8;
    }
    while (size--)
        crc = s_crc_table[0][(crc ^ *at++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

//  The CRC of a record: its size field, then everything after the crc field.
static uint32_t
s_record_crc (const unsigned char *record, size_t size)
{
    uint32_t crc = tr__crc32 (0, record, 4);
    return tr__crc32 (crc, record + 8, TR__BUS_RECORD_HEAD - 8 + size);
}

//  --------------------------------------------------------------------------
//  Reading

void
tr__bus_reader_init (tr__bus_reader_t *self, int fd, uint64_t pos, uint64_t end, size_t max_record)
{
    memset (self, 0, sizeof *self);
    self->fd = fd;
    self->pos = pos;
    self->end = end;
    self->max_record = max_record;
}

void
tr__bus_reader_fini (tr__bus_reader_t *self)
{
    tr__free (self->buffer);
    self->buffer = NULL;
}

//  Make the buffer hold [pos, pos + need) (need <= end - pos). 0 or -1.
static int
s_fill (tr__bus_reader_t *self, size_t need)
{
    if (self->buffer && self->pos >= self->buffer_pos
        && self->pos + need <= self->buffer_pos + self->buffer_size)
        return 0;
    if (need > self->capacity) {
        self->capacity = need > 256 * 1024 ? need : 256 * 1024;
        tr__free (self->buffer);
        self->buffer = tr__alloc (self->capacity);
    }
    //  Read as much as fits from pos on: the next records come with it.
    size_t want = self->capacity;
    if (want > self->end - self->pos)
        want = (size_t) (self->end - self->pos);
    size_t got = 0;
    while (got < want) {
        ssize_t rc = pread (self->fd, self->buffer + got, want - got, (off_t) (self->pos + got));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        got += (size_t) rc;
    }
    self->buffer_pos = self->pos;
    self->buffer_size = got;
    return got >= need ? 0 : -1;
}

int
tr__bus_reader_next (tr__bus_reader_t *self, tr__bus_record_t *record)
{
    if (self->pos >= self->end)
        return 0;
    if (self->end - self->pos < TR__BUS_RECORD_HEAD)
        return TR_EMALFORMED;  //  torn head
    if (s_fill (self, TR__BUS_RECORD_HEAD) != 0)
        return TR_EINVAL;
    const unsigned char *head = self->buffer + (self->pos - self->buffer_pos);
    uint32_t size, crc, topic_size, reserved;
    uint64_t offset;
    memcpy (&size, head, 4);
    memcpy (&crc, head + 4, 4);
    memcpy (&offset, head + 8, 8);
    memcpy (&topic_size, head + 16, 4);
    memcpy (&reserved, head + 20, 4);
    if (topic_size == 0 || topic_size > TR_BUS_TOPIC_MAX || topic_size > size || reserved != 0)
        return TR_EMALFORMED;
    if (self->end - self->pos < TR__BUS_RECORD_HEAD + (uint64_t) size)
        return TR_EMALFORMED;  //  torn body
    if ((size_t) size > self->max_record - TR__BUS_RECORD_HEAD)
        return TR_EMSGSIZE;  //  whole, but bigger than this node takes
    if (s_fill (self, TR__BUS_RECORD_HEAD + size) != 0)
        return TR_EINVAL;
    head = self->buffer + (self->pos - self->buffer_pos);
    if (s_record_crc (head, size) != crc)
        return TR_EMALFORMED;
    const char *topic = (const char *) head + TR__BUS_RECORD_HEAD;
    if (memchr (topic, 0, topic_size))
        return TR_EMALFORMED;
    record->offset = offset;
    record->pos = self->pos;
    record->topic = topic;
    record->topic_size = topic_size;
    record->data = topic + topic_size;
    record->size = size - topic_size;
    self->pos += TR__BUS_RECORD_HEAD + size;
    return 1;
}

//  --------------------------------------------------------------------------
//  Opening and recovery

static void
s_index_add (tr__bus_log_t *self, uint64_t offset, uint64_t pos)
{
    if (self->index_count == self->index_capacity) {
        self->index_capacity = self->index_capacity ? self->index_capacity * 2 : 64;
        self->index = tr__realloc (self->index, self->index_capacity * sizeof (s_index_t));
    }
    self->index[self->index_count++] = (s_index_t){offset, pos};
}

//  Write all of size bytes at pos. 0 or -1 (errno set).
static int
s_pwrite_all (int fd, const void *bytes, size_t size, uint64_t pos)
{
    const unsigned char *at = bytes;
    while (size) {
        ssize_t rc = pwrite (fd, at, size, (off_t) pos);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        at += rc;
        pos += (uint64_t) rc;
        size -= (size_t) rc;
    }
    return 0;
}

//  Make a new file's name durable too: fsync its directory.
static void
s_sync_dir (const char *path)
{
    char *copy = tr__strdup (path);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
    tr__free (copy);
}

//  Check the head of a file of file_size bytes; write it when the file is
//  new (or holds a torn head, a prefix of it). 0 or TR_EINVAL.
static int
s_head (tr__bus_log_t *self, uint64_t file_size)
{
    unsigned char head[TR__BUS_LOG_HEAD] = {0};
    memcpy (head, TR__BUS_LOG_MAGIC, 8);
    uint32_t version = TR__BUS_LOG_VERSION;
    memcpy (head + 8, &version, 4);
    if (file_size >= TR__BUS_LOG_HEAD) {
        unsigned char found[TR__BUS_LOG_HEAD];
        if (pread (self->fd, found, sizeof found, 0) != (ssize_t) sizeof found)
            return TR_EINVAL;
        if (memcmp (found, head, sizeof head) != 0) {
            tr__error ("bus", "%s is not a bus log (version %u expected)", self->path,
                       TR__BUS_LOG_VERSION);
            return TR_EINVAL;
        }
        return 0;
    }
    unsigned char found[TR__BUS_LOG_HEAD];
    if (file_size
        && (pread (self->fd, found, (size_t) file_size, 0) != (ssize_t) file_size
            || memcmp (found, head, (size_t) file_size) != 0)) {
        tr__error ("bus", "%s is not a bus log", self->path);
        return TR_EINVAL;
    }
    if (s_pwrite_all (self->fd, head, sizeof head, 0) != 0 || fdatasync (self->fd) != 0) {
        tr__error ("bus", "%s: cannot write: %s", self->path, strerror (errno));
        return TR_EINVAL;
    }
    s_sync_dir (self->path);
    return 0;
}

//  Read every record; cut the file after the last good one.
static int
s_recover (tr__bus_log_t *self, uint64_t file_size)
{
    tr__bus_reader_t reader;
    tr__bus_reader_init (&reader, self->fd, TR__BUS_LOG_HEAD, file_size, self->max_record);
    tr__bus_record_t record;
    int rc;
    bool first = true;
    uint64_t good_end = reader.pos;  //  after the last record kept
    while ((rc = tr__bus_reader_next (&reader, &record)) == 1) {
        if (first) {
            self->base_offset = self->next_offset = record.offset;
            first = false;
        }
        else if (record.offset != self->next_offset) {
            rc = TR_EMALFORMED;  //  a record out of sequence: not ours to trust
            break;
        }
        if (self->index_count == 0 || (record.offset & (S_INDEX_EVERY - 1)) == 0)
            s_index_add (self, record.offset, record.pos);
        self->next_offset++;
        self->recovered++;
        good_end = reader.pos;
    }
    tr__bus_reader_fini (&reader);
    if (rc == TR_EINVAL) {
        tr__error ("bus", "%s: cannot read: %s", self->path, strerror (errno));
        return TR_EINVAL;
    }
    if (rc == TR_EMSGSIZE) {
        //  Maybe written by a node with a larger max_payload: cutting it
        //  off could throw good events away, so refuse instead.
        tr__error ("bus",
                   "%s: the record at byte %llu is over this node's max_payload: not "
                   "opening it (start the node with a larger max_payload)",
                   self->path, (unsigned long long) good_end);
        return TR_EINVAL;
    }
    if (good_end < file_size) {
        //  A torn or corrupt tail: the last write before a crash. Cut it off.
        self->truncated_bytes = file_size - good_end;
        if (ftruncate (self->fd, (off_t) good_end) != 0) {
            tr__error ("bus", "%s: cannot truncate: %s", self->path, strerror (errno));
            return TR_EINVAL;
        }
        tr__warn ("bus",
                  "%s: cut off a torn or corrupt tail of %llu bytes at byte %llu "
                  "(%llu events kept, next offset %llu)",
                  self->path, (unsigned long long) self->truncated_bytes,
                  (unsigned long long) good_end, (unsigned long long) self->recovered,
                  (unsigned long long) self->next_offset);
    }
    //  What was found counts as synced from here on: make it so (after a
    //  kill -9 it may still be in the page cache only).
    if (fdatasync (self->fd) != 0) {
        tr__error ("bus", "%s: fdatasync: %s", self->path, strerror (errno));
        return TR_EINVAL;
    }
    self->written_pos = good_end;
    self->written_offset = self->requested = self->next_offset;
    self->sync_target = self->sync_done = self->next_offset;
    atomic_store (&self->synced_offset, self->next_offset);
    return 0;
}

int
tr__bus_log_open (const char *path, size_t max_data, tr__bus_log_t **self_p)
{
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        tr__error ("bus", "cannot open the log %s: %s", path, strerror (errno));
        return TR_EINVAL;
    }
    struct stat info;
    if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode)) {
        tr__error ("bus", "%s is not a regular file", path);
        close (fd);
        return TR_EINVAL;
    }
    tr__bus_log_t *self = tr__calloc (sizeof *self);
    self->fd = fd;
    self->path = tr__strdup (path);
    self->max_record = TR__BUS_RECORD_HEAD + TR_BUS_TOPIC_MAX + max_data;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    int rc = s_head (self, (uint64_t) info.st_size);
    if (rc == 0)
        rc = s_recover (self, info.st_size < TR__BUS_LOG_HEAD ? TR__BUS_LOG_HEAD
                                                              : (uint64_t) info.st_size);
    if (rc != 0) {
        tr__bus_log_close (&self);
        return rc;
    }
    *self_p = self;
    return 0;
}

//  --------------------------------------------------------------------------
//  The syncer thread: fdatasync off the scheduler threads. Requests only
//  move the target up, so one sync covers every request made while the
//  previous one ran.

static void *
s_syncer (void *arg)
{
    tr__bus_log_t *self = arg;
    pthread_setname_np (pthread_self (), "troupe-bus-sync");
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && self->sync_target <= self->sync_done)
            pthread_cond_wait (&self->cond, &self->lock);
        if (self->sync_target <= self->sync_done)
            break;  //  stopping, nothing left
        uint64_t target = self->sync_target;
        pthread_mutex_unlock (&self->lock);
        int rc = fdatasync (self->fd);
        int error = errno;
        pthread_mutex_lock (&self->lock);
        if (rc != 0) {
            atomic_fetch_add (&self->errors, 1);
            tr__error ("bus", "%s: fdatasync: %s (synced_offset stays where it is from now on)",
                       self->path, strerror (error));
            self->sync_done = self->sync_target;  //  not retried: counted, logged
            //  Linux may have dropped the pages that failed to reach the disk
            //  and a later fdatasync succeeds without them: nothing written
            //  from here on can be called durable.
            self->sync_failed = true;
            continue;
        }
        self->sync_done = target;
        if (!self->sync_failed)
            atomic_store (&self->synced_offset, target);
        atomic_fetch_add (&self->syncs, 1);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

int
tr__bus_log_start (tr__bus_log_t *self)
{
    if (pthread_create (&self->syncer, NULL, s_syncer, self) != 0)
        return TR_ETOOMANY;
    self->syncer_started = true;
    return 0;
}

void
tr__bus_log_close (tr__bus_log_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__bus_log_t *self = *self_p;
    if (self->batch_size)
        tr__bus_log_write (self);
    if (self->syncer_started) {
        pthread_mutex_lock (&self->lock);
        if (self->written_offset > self->sync_target)
            self->sync_target = self->written_offset;
        self->stop = true;
        pthread_cond_signal (&self->cond);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->syncer, NULL);
    }
    else if (self->fd >= 0 && self->written_offset > atomic_load (&self->synced_offset)
             && fdatasync (self->fd) == 0)
        atomic_store (&self->synced_offset, self->written_offset);
    if (self->fd >= 0)
        close (self->fd);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    tr__free (self->batch);
    tr__free (self->index);
    tr__free (self->path);
    tr__free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Appending (bus thread)

bool
tr__bus_log_append (tr__bus_log_t *self, const char *topic, size_t topic_size, const void *data,
                    size_t size)
{
    size_t record_size = TR__BUS_RECORD_HEAD + topic_size + size;
    if (self->batch_size + record_size > self->batch_capacity) {
        size_t capacity = self->batch_capacity ? self->batch_capacity : 64 * 1024;
        while (capacity < self->batch_size + record_size)
            capacity *= 2;
        self->batch = tr__realloc (self->batch, capacity);
        self->batch_capacity = capacity;
    }
    uint64_t offset = self->next_offset++;
    if ((offset & (S_INDEX_EVERY - 1)) == 0 || self->index_count == 0)
        s_index_add (self, offset, self->written_pos + self->batch_size);
    unsigned char *record = self->batch + self->batch_size;
    uint32_t body = (uint32_t) (topic_size + size), topic32 = (uint32_t) topic_size, zero = 0;
    memcpy (record, &body, 4);
    memcpy (record + 8, &offset, 8);
    memcpy (record + 16, &topic32, 4);
    memcpy (record + 20, &zero, 4);
    memcpy (record + TR__BUS_RECORD_HEAD, topic, topic_size);
    if (size)
        memcpy (record + TR__BUS_RECORD_HEAD + topic_size, data, size);
    uint32_t crc = s_record_crc (record, body);
    memcpy (record + 4, &crc, 4);
    self->batch_size += record_size;
    self->batch_events++;
    return self->batch_events >= S_BATCH_EVENTS || self->batch_size >= S_BATCH_BYTES;
}

int
tr__bus_log_write (tr__bus_log_t *self)
{
    if (!self->batch_size)
        return 0;
    if (self->failed || s_pwrite_all (self->fd, self->batch, self->batch_size, self->written_pos)) {
        if (!self->failed) {
            tr__error ("bus", "%s: write failed (%s): the log stops at offset %llu", self->path,
                       strerror (errno), (unsigned long long) self->written_offset);
            atomic_fetch_add (&self->errors, 1);
        }
        self->failed = true;
        self->batch_size = 0;
        self->batch_events = 0;
        return TR_EINVAL;
    }
    self->written_pos += self->batch_size;
    self->written_offset += self->batch_events;
    self->writes++;
    self->batch_size = 0;
    self->batch_events = 0;
    //  A batch that grew big is not kept: memory goes back after a burst.
    if (self->batch_capacity > 4 * S_BATCH_BYTES) {
        tr__free (self->batch);
        self->batch = NULL;
        self->batch_capacity = 0;
    }
    return 0;
}

void
tr__bus_log_sync (tr__bus_log_t *self)
{
    if (self->failed || self->written_offset <= self->requested)
        return;
    self->requested = self->written_offset;
    pthread_mutex_lock (&self->lock);
    if (self->requested > self->sync_target) {
        self->sync_target = self->requested;
        pthread_cond_signal (&self->cond);
    }
    pthread_mutex_unlock (&self->lock);
}

uint64_t
tr__bus_log_next (tr__bus_log_t *self)
{
    return self->next_offset;
}

uint64_t
tr__bus_log_written (tr__bus_log_t *self)
{
    return self->written_offset;
}

uint64_t
tr__bus_log_unsynced (tr__bus_log_t *self)
{
    return self->written_offset - self->requested;
}

uint32_t
tr__bus_log_buffered (tr__bus_log_t *self)
{
    return self->batch_events;
}

bool
tr__bus_log_failed (tr__bus_log_t *self)
{
    return self->failed;
}

int
tr__bus_log_fd (tr__bus_log_t *self)
{
    return self->fd;
}

const char *
tr__bus_log_path (tr__bus_log_t *self)
{
    return self->path;
}

size_t
tr__bus_log_max_record (tr__bus_log_t *self)
{
    return self->max_record;
}

uint64_t
tr__bus_log_end (tr__bus_log_t *self)
{
    return self->written_pos;
}

void
tr__bus_log_stats (tr__bus_log_t *self, tr__bus_log_stats_t *stats)
{
    stats->written_offset = self->written_offset;
    stats->synced_offset = atomic_load (&self->synced_offset);
    stats->writes = self->writes;
    stats->syncs = atomic_load (&self->syncs);
    stats->log_bytes = self->written_pos;
    stats->recovered = self->recovered;
    stats->truncated_bytes = self->truncated_bytes;
    stats->errors = atomic_load (&self->errors);
}

void
tr__bus_log_seek (tr__bus_log_t *self, uint64_t from_offset, uint64_t *pos, uint64_t *offset)
{
    *pos = TR__BUS_LOG_HEAD;
    *offset = self->base_offset;
    //  The last entry at or before from_offset (entries are in offset order).
    size_t low = 0, high = self->index_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (self->index[middle].offset <= from_offset)
            low = middle + 1;
        else
            high = middle;
    }
    //  Entries of records still in the batch do not count: not in the file.
    while (low > 0 && self->index[low - 1].pos >= self->written_pos)
        low--;
    if (low > 0) {
        *pos = self->index[low - 1].pos;
        *offset = self->index[low - 1].offset;
    }
}
