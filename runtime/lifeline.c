//  lifeline - an early notice of a process actor's death (see lifeline.h)
//
//  How it works. The node maps TR__LIFELINE_SLOTS slots, each a robust
//  process-shared mutex, before it forks the zygote, so every child has them
//  at the same address. A C child locks its slot first thing and keeps it.
//  Its lock word then holds its thread id (glibc's robust mutex: the futex
//  word is the owner's tid with the FUTEX_WAITERS and FUTEX_OWNER_DIED bits).
//  Once the child has said hello, a watcher thread in the node sets
//  FUTEX_WAITERS on the word and waits on it (futex_waitv, up to 127 slots
//  and a control word). When the child's main thread exits, for whatever
//  reason, the kernel walks its robust list first thing: it sets
//  FUTEX_OWNER_DIED and wakes the watcher, which tells the manager thread
//  through an eventfd. Its other threads, its address space and its sockets
//  are torn down after that; the pidfd reports the end of all of it.
#include "lifeline.h"
#include "log.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

//  At most this many futexes in one futex_waitv (the kernel's limit).
#define S_WAIT_MAX FUTEX_WAITV_MAX

//  Shared with every child: only the mutexes. What the node decides from
//  them (which slot is watched, which was seen to end) is in its own memory,
//  where no child can write.
typedef struct {
    pthread_mutex_t lock;  //  held by the child's main thread for life
} __attribute__ ((aligned (64))) s_slot_t;

typedef struct {
    s_slot_t slots[TR__LIFELINE_SLOTS];
} s_shared_t;

struct tr__lifeline {
    s_shared_t *shared;  //  MAP_SHARED: the node, the zygote and every child
    int fd;              //  eventfd: a lifeline was cut
    pthread_t watcher;
    bool started, off;  //  the watcher runs / lifelines are off for good
    _Atomic bool stopping;
    _Atomic uint32_t control;  //  bumped (and woken) when the watch list changes
    //  Per slot: generation << 32 | pid while watched, else 0 (the manager
    //  writes it); the armed value the watcher saw end.
    _Atomic uint64_t armed[TR__LIFELINE_SLOTS];
    _Atomic uint64_t seen[TR__LIFELINE_SLOTS];
    //  Manager thread only.
    bool in_use[TR__LIFELINE_SLOTS];
    int cursor;
    uint32_t generation;
};

static _Atomic uint32_t *
s_word (s_slot_t *slot)
{
    //  glibc keeps the futex word (__data.__lock) first in pthread_mutex_t;
    //  tr__lifeline_arm checks it holds the child's pid before relying on it.
    return (_Atomic uint32_t *) (void *) &slot->lock;
}

static long
s_waitv (struct futex_waitv *waits, unsigned count)
{
#ifdef SYS_futex_waitv
    return syscall (SYS_futex_waitv, waits, count, 0, NULL, 0);
#else
    (void) waits;
    (void) count;
    errno = ENOSYS;
    return -1;
#endif
}

static void
s_wake_control (tr__lifeline_t *self)
{
    atomic_fetch_add (&self->control, 1);
    syscall (SYS_futex, &self->control, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

tr__lifeline_t *
tr__lifeline_new (void)
{
    void *shared =
        mmap (NULL, sizeof (s_shared_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return NULL;
    tr__lifeline_t *self = tr__calloc (sizeof *self);
    self->shared = shared;
    self->fd = -1;
    return self;
}

//  Slot i's holder is alive and watched: add it to the wait list (setting
//  FUTEX_WAITERS so its death wakes us). False when its holder is gone: its
//  main thread died (FUTEX_OWNER_DIED) or it let go (a clean exit).
static bool
s_watch_slot (s_slot_t *slot, uint64_t armed, struct futex_waitv *wait)
{
    _Atomic uint32_t *word = s_word (slot);
    uint32_t pid = (uint32_t) armed, value = atomic_load (word);
    while ((value & FUTEX_TID_MASK) == pid && !(value & FUTEX_OWNER_DIED)) {
        if ((value & FUTEX_WAITERS)
            || atomic_compare_exchange_weak (word, &value, value | FUTEX_WAITERS)) {
            *wait = (struct futex_waitv){
                .val = value | FUTEX_WAITERS, .uaddr = (uintptr_t) word, .flags = FUTEX_32};
            return true;
        }
    }
    return false;
}

static void *
s_watcher (void *arg)
{
    tr__lifeline_t *self = arg;
    s_shared_t *shared = self->shared;
    struct futex_waitv waits[S_WAIT_MAX];
    while (!atomic_load (&self->stopping)) {
        uint32_t control = atomic_load (&self->control);
        unsigned count = 0;
        waits[count++] = (struct futex_waitv){.val = control,
                                              .uaddr = (uintptr_t) &self->control,
                                              .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
        bool cut = false;
        for (int i = 0; i < TR__LIFELINE_SLOTS && count < S_WAIT_MAX; i++) {
            uint64_t armed = atomic_load (&self->armed[i]);
            if (!armed || atomic_load (&self->seen[i]) == armed)
                continue;
            if (s_watch_slot (&shared->slots[i], armed, &waits[count]))
                count++;
            else {
                //  Keyed to the armed value: a slot armed again since then
                //  does not read as cut.
                atomic_store (&self->seen[i], armed);
                cut = true;
            }
        }
        if (cut) {
            uint64_t one = 1;
            if (write (self->fd, &one, sizeof one) < 0) {
                //  Only EAGAIN (the counter is full): the manager is told.
            }
            continue;
        }
        if (s_waitv (waits, count) < 0 && errno != EAGAIN && errno != EINTR) {
            //  Not expected (probed in s_start): never spin on it.
            struct timespec pause = {0, 1000000};
            nanosleep (&pause, NULL);
        }
    }
    return NULL;
}

//  Start the watcher (on the first child: no thread before that). 0, or
//  -1 when the kernel has no futex_waitv: lifelines are then off and deaths
//  are seen by pidfd alone.
static int
s_start (tr__lifeline_t *self)
{
    //  Probe futex_waitv: a value that does not match returns EAGAIN at once.
    struct futex_waitv probe = {.val = atomic_load (&self->control) + 1,
                                .uaddr = (uintptr_t) &self->control,
                                .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
    if (s_waitv (&probe, 1) == 0 || errno != EAGAIN) {
        tr__debug ("lifeline", "no futex_waitv (%s): deaths are seen by pidfd only",
                   strerror (errno));
        self->off = true;
        return -1;
    }
    self->fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->fd < 0) {
        self->off = true;
        return -1;
    }
    if (pthread_create (&self->watcher, NULL, s_watcher, self) != 0) {
        close (self->fd);
        self->fd = -1;
        self->off = true;
        return -1;
    }
    pthread_setname_np (self->watcher, "troupe-lifeline");
    self->started = true;
    return 0;
}

void
tr__lifeline_destroy (tr__lifeline_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__lifeline_t *self = *self_p;
    if (self->started) {
        atomic_store (&self->stopping, true);
        s_wake_control (self);
        pthread_join (self->watcher, NULL);
    }
    if (self->fd >= 0)
        close (self->fd);
    munmap (self->shared, sizeof (s_shared_t));
    tr__free (self);
    *self_p = NULL;
}

int
tr__lifeline_fd (tr__lifeline_t *self)
{
    return self && self->started ? self->fd : -1;
}

int
tr__lifeline_take (tr__lifeline_t *self)
{
    if (!self || self->off || (!self->started && s_start (self) != 0))
        return -1;
    for (int tried = 0; tried < TR__LIFELINE_SLOTS; tried++) {
        int i = self->cursor;
        self->cursor = (self->cursor + 1) % TR__LIFELINE_SLOTS;
        s_slot_t *slot = &self->shared->slots[i];
        uint32_t value = atomic_load (s_word (slot));
        //  Free, and no holder left: never locked, or its holder died.
        if (self->in_use[i] || (value && !(value & FUTEX_OWNER_DIED)))
            continue;
        pthread_mutexattr_t attr;
        pthread_mutexattr_init (&attr);
        pthread_mutexattr_setpshared (&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust (&attr, PTHREAD_MUTEX_ROBUST);
        int rc = pthread_mutex_init (&slot->lock, &attr);
        pthread_mutexattr_destroy (&attr);
        if (rc != 0)
            return -1;
        atomic_store (&self->armed[i], 0);
        atomic_store (&self->seen[i], 0);
        self->in_use[i] = true;
        return i;
    }
    return -1;
}

uint64_t
tr__lifeline_address (tr__lifeline_t *self, int slot)
{
    return self && slot >= 0 ? (uint64_t) (uintptr_t) &self->shared->slots[slot].lock : 0;
}

bool
tr__lifeline_arm (tr__lifeline_t *self, int slot, pid_t pid)
{
    if (!self || slot < 0 || pid <= 0)
        return false;
    s_slot_t *entry = &self->shared->slots[slot];
    uint32_t value = atomic_load (s_word (entry));
    if ((value & FUTEX_TID_MASK) != (uint32_t) pid || (value & FUTEX_OWNER_DIED))
        return false;  //  not held by its main thread (or already ended)
    if (++self->generation == 0)
        self->generation = 1;
    atomic_store (&self->armed[slot], (uint64_t) self->generation << 32 | (uint32_t) pid);
    s_wake_control (self);
    return true;
}

bool
tr__lifeline_cut (tr__lifeline_t *self, int slot)
{
    if (!self || slot < 0)
        return false;
    uint64_t armed = atomic_load (&self->armed[slot]);
    return armed && atomic_load (&self->seen[slot]) == armed;
}

void
tr__lifeline_drain (tr__lifeline_t *self)
{
    uint64_t count;
    if (self && self->fd >= 0 && read (self->fd, &count, sizeof count) < 0) {
        //  EAGAIN: drained already.
    }
}

void
tr__lifeline_release (tr__lifeline_t *self, int slot)
{
    if (!self || slot < 0)
        return;
    //  The watcher drops it on its next look (its holder's death wakes it).
    atomic_store (&self->armed[slot], 0);
    self->in_use[slot] = false;
}

bool
tr__lifeline_hold (uint64_t address)
{
    if (!address)
        return false;
    pthread_mutex_t *lock = (pthread_mutex_t *) (uintptr_t) address;
    int rc = pthread_mutex_trylock (lock);
    if (rc == EOWNERDEAD)
        rc = pthread_mutex_consistent (lock);
    return rc == 0;
}
