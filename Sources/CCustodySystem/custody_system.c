#define _GNU_SOURCE 1
#include "custody_system.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/fs.h>
#include <linux/fiemap.h>
#endif

int custody_block_size_bytes(int fd, uint64_t *size) {
#ifdef BLKGETSIZE64
    uint64_t value = 0;
    if (ioctl(fd, BLKGETSIZE64, &value) != 0) return errno;
    *size = value;
    return 0;
#else
    (void)fd; (void)size;
    return ENOTSUP;
#endif
}

int custody_block_logical_sector_size(int fd, uint32_t *size) {
#ifdef BLKSSZGET
    int value = 0;
    if (ioctl(fd, BLKSSZGET, &value) != 0) return errno;
    *size = (uint32_t)value;
    return 0;
#else
    (void)fd; (void)size;
    return ENOTSUP;
#endif
}

int custody_block_physical_sector_size(int fd, uint32_t *size) {
#ifdef BLKPBSZGET
    unsigned int value = 0;
    if (ioctl(fd, BLKPBSZGET, &value) != 0) return errno;
    *size = (uint32_t)value;
    return 0;
#else
    (void)fd; (void)size;
    return ENOTSUP;
#endif
}

static atomic_int pending_signal = 0;

static void record_signal(int signo) {
    int expected = 0;
    /* Keep the first signal; lock-free atomics are async-signal-safe. */
    atomic_compare_exchange_strong(&pending_signal, &expected, signo);
}

int custody_interrupt_install(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    if (sigaction(signo, &action, NULL) != 0) return errno;
    return 0;
}

int custody_interrupt_uninstall(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    if (sigaction(signo, &action, NULL) != 0) return errno;
    return 0;
}

int custody_interrupt_pending(void) {
    return atomic_load(&pending_signal);
}

void custody_interrupt_reset(void) {
    atomic_store(&pending_signal, 0);
}

void custody_interrupt_raise_flag(int signo) {
    record_signal(signo);
}

/* Guarded mappings: a fixed table the SIGBUS handler scans without locks. A guard is claimed with `busy`,
 * filled, then published by storing `start` last; it is withdrawn by clearing `start` before the unmap. */
enum { GUARD_COUNT = 1024 };

struct mapping_guard {
    atomic_int busy;
    atomic_uintptr_t start;
    atomic_uintptr_t end;
    atomic_int damaged;
};

static struct mapping_guard guards[GUARD_COUNT];
static struct sigaction previous_bus_action;
static atomic_int bus_handler_state = 0; /* 0 none, 1 installing, 2 installed */
static uintptr_t page_mask = 0;

static void on_bus_error(int signo, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < GUARD_COUNT; i++) {
        uintptr_t start = atomic_load(&guards[i].start);
        if (start == 0 || address < start || address >= atomic_load(&guards[i].end)) continue;
        void *page = (void *)(address & page_mask);
        void *zeros = mmap(page, (size_t)(~page_mask + 1), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                           -1, 0);
        if (zeros == MAP_FAILED) break;
        atomic_store(&guards[i].damaged, 1);
        return;
    }
    if (previous_bus_action.sa_flags & SA_SIGINFO) {
        if (previous_bus_action.sa_sigaction != NULL) {
            previous_bus_action.sa_sigaction(signo, info, context);
            return;
        }
    } else if (previous_bus_action.sa_handler != SIG_DFL && previous_bus_action.sa_handler != SIG_IGN) {
        previous_bus_action.sa_handler(signo);
        return;
    }
    /* Not ours and nobody else's: the default action, taken when the faulting access runs again. */
    signal(signo, SIG_DFL);
}

static int install_bus_handler(void) {
    int state = atomic_load(&bus_handler_state);
    if (state == 2) return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&bus_handler_state, &expected, 1)) {
        while (atomic_load(&bus_handler_state) != 2) sched_yield();
        return 0;
    }
    page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_bus_error;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGBUS, &action, &previous_bus_action) != 0) {
        int code = errno;
        atomic_store(&bus_handler_state, 0);
        return code;
    }
    atomic_store(&bus_handler_state, 2);
    return 0;
}

int custody_map_guarded(int fd, uint64_t offset, size_t length, int populate, void **address, int *guard) {
    if (length == 0) return EINVAL;
    int status = install_bus_handler();
    if (status != 0) return status;
    int claimed = -1;
    for (int i = 0; i < GUARD_COUNT && claimed < 0; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&guards[i].busy, &expected, 1)) claimed = i;
    }
    if (claimed < 0) return ENOSPC;
    int flags = MAP_SHARED;
#ifdef MAP_POPULATE
    if (populate) flags |= MAP_POPULATE;
#else
    (void)populate;
#endif
    void *mapped = mmap(NULL, length, PROT_READ, flags, fd, (off_t)offset);
    if (mapped == MAP_FAILED) {
        int code = errno;
        atomic_store(&guards[claimed].busy, 0);
        return code;
    }
    atomic_store(&guards[claimed].damaged, 0);
    atomic_store(&guards[claimed].end, (uintptr_t)mapped + length);
    atomic_store(&guards[claimed].start, (uintptr_t)mapped);
    *address = mapped;
    *guard = claimed;
    return 0;
}

int custody_mapping_damaged(int guard) {
    if (guard < 0 || guard >= GUARD_COUNT) return 0;
    return atomic_load(&guards[guard].damaged);
}

int custody_unmap_guarded(void *address, size_t length, int guard) {
    int damaged = custody_mapping_damaged(guard);
    if (guard >= 0 && guard < GUARD_COUNT) {
        atomic_store(&guards[guard].start, 0);
        atomic_store(&guards[guard].end, 0);
    }
    munmap(address, length);
    if (guard >= 0 && guard < GUARD_COUNT) atomic_store(&guards[guard].busy, 0);
    return damaged;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

/* x^(512+64) and x^512 mod P, then x^(128+64) and x^128 mod P, bit-reflected (P = 0x104C11DB7), as in the
 * Intel paper and the Linux kernel's crc32-pclmul. */
#define CRC32_FOLD_512_HIGH 0x1c6e41596ULL
#define CRC32_FOLD_512_LOW 0x154442bd4ULL
#define CRC32_FOLD_128_HIGH 0x0ccaa009eULL
#define CRC32_FOLD_128_LOW 0x1751997d0ULL

__attribute__((target("pclmul,sse2")))
static inline __m128i crc32_fold_block(__m128i accumulator, __m128i constants, __m128i next) {
    __m128i low = _mm_clmulepi64_si128(accumulator, constants, 0x00);
    __m128i high = _mm_clmulepi64_si128(accumulator, constants, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

__attribute__((target("pclmul,sse2")))
static size_t crc32_fold_pclmul(uint32_t register_, const uint8_t *bytes, size_t count, uint8_t folded[16]) {
    const uint8_t *p = bytes;
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)register_));
    p += 64;
    size_t left = count - 64;
    const __m128i by512 = _mm_set_epi64x((long long)CRC32_FOLD_512_HIGH, (long long)CRC32_FOLD_512_LOW);
    while (left >= 64) {
        x0 = crc32_fold_block(x0, by512, _mm_loadu_si128((const __m128i *)p));
        x1 = crc32_fold_block(x1, by512, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = crc32_fold_block(x2, by512, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = crc32_fold_block(x3, by512, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        left -= 64;
    }
    const __m128i by128 = _mm_set_epi64x((long long)CRC32_FOLD_128_HIGH, (long long)CRC32_FOLD_128_LOW);
    x0 = crc32_fold_block(x0, by128, x1);
    x0 = crc32_fold_block(x0, by128, x2);
    x0 = crc32_fold_block(x0, by128, x3);
    while (left >= 16) {
        x0 = crc32_fold_block(x0, by128, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        left -= 16;
    }
    _mm_storeu_si128((__m128i *)folded, x0);
    return (size_t)(p - bytes);
}

size_t custody_crc32_fold(uint32_t register_, const uint8_t *bytes, size_t count, uint8_t folded[16]) {
    static atomic_int supported = -1;
    int known = atomic_load(&supported);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
        atomic_store(&supported, known);
    }
    if (!known || count < 64) return 0;
    return crc32_fold_pclmul(register_, bytes, count, folded);
}
#else
size_t custody_crc32_fold(uint32_t register_, const uint8_t *bytes, size_t count, uint8_t folded[16]) {
    (void)register_; (void)bytes; (void)count; (void)folded;
    return 0;
}
#endif

int custody_set_direct_io(int fd, int enabled) {
#ifdef O_DIRECT
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return errno;
    int wanted = enabled ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
    if (wanted == flags) return 0;
    if (fcntl(fd, F_SETFL, wanted) != 0) return errno;
    return 0;
#else
    (void)fd;
    (void)enabled;
    return ENOTSUP;
#endif
}

int custody_next_data(int fd, uint64_t offset, uint64_t *next) {
#ifdef SEEK_DATA
    off_t result = lseek(fd, (off_t)offset, SEEK_DATA);
    if (result < 0) return errno;
    *next = (uint64_t)result;
    return 0;
#else
    (void)fd;
    (void)offset;
    (void)next;
    return ENOTSUP;
#endif
}

int custody_status_at(int dirfd, const char *name, int follow, struct custody_file_status *status) {
    int flags = (follow ? 0 : AT_SYMLINK_NOFOLLOW) | (name[0] == 0 ? AT_EMPTY_PATH : 0);
    memset(status, 0, sizeof *status);
#if defined(__linux__) && defined(STATX_BASIC_STATS)
    struct statx info;
    if (statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_BTIME, &info) == 0) {
        status->device = makedev(info.stx_dev_major, info.stx_dev_minor);
        status->inode = info.stx_ino;
        status->size = info.stx_size;
        status->allocated_bytes = info.stx_blocks * 512;
        status->link_count = info.stx_nlink;
        status->mode = info.stx_mode;
        status->uid = info.stx_uid;
        status->gid = info.stx_gid;
        status->modified_seconds = info.stx_mtime.tv_sec;
        status->modified_nanoseconds = info.stx_mtime.tv_nsec;
        status->accessed_seconds = info.stx_atime.tv_sec;
        status->accessed_nanoseconds = info.stx_atime.tv_nsec;
        status->changed_seconds = info.stx_ctime.tv_sec;
        status->changed_nanoseconds = info.stx_ctime.tv_nsec;
        if (info.stx_mask & STATX_BTIME) {
            status->has_birth_time = 1;
            status->birth_seconds = info.stx_btime.tv_sec;
            status->birth_nanoseconds = info.stx_btime.tv_nsec;
        }
        return 0;
    }
    if (errno != ENOSYS && errno != EINVAL) return errno;
#endif
    struct stat plain;
    if (fstatat(dirfd, name, &plain, flags) != 0) return errno;
    status->device = plain.st_dev;
    status->inode = plain.st_ino;
    status->size = (uint64_t)plain.st_size;
    status->allocated_bytes = (uint64_t)plain.st_blocks * 512;
    status->link_count = plain.st_nlink;
    status->mode = plain.st_mode;
    status->uid = plain.st_uid;
    status->gid = plain.st_gid;
    status->modified_seconds = plain.st_mtim.tv_sec;
    status->modified_nanoseconds = (uint32_t)plain.st_mtim.tv_nsec;
    status->accessed_seconds = plain.st_atim.tv_sec;
    status->accessed_nanoseconds = (uint32_t)plain.st_atim.tv_nsec;
    status->changed_seconds = plain.st_ctim.tv_sec;
    status->changed_nanoseconds = (uint32_t)plain.st_ctim.tv_nsec;
    return 0;
}

int custody_first_physical_extent(int fd, uint64_t *physical) {
#if defined(__linux__) && defined(FS_IOC_FIEMAP)
    _Alignas(8) unsigned char request[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
    struct fiemap *map = (struct fiemap *)request;
    memset(request, 0, sizeof request);
    map->fm_start = 0;
    map->fm_length = ~(uint64_t)0;
    map->fm_extent_count = 1;
    if (ioctl(fd, FS_IOC_FIEMAP, map) != 0) return errno;
    if (map->fm_mapped_extents == 0) return ENODATA;
    *physical = map->fm_extents[0].fe_physical;
    return 0;
#else
    (void)fd; (void)physical;
    return EOPNOTSUPP;
#endif
}

long custody_xattr_list(int fd, const char *path, char *list, size_t size) {
    ssize_t result = fd >= 0 ? flistxattr(fd, list, size) : llistxattr(path, list, size);
    return result < 0 ? -(long)errno : (long)result;
}

long custody_xattr_get(int fd, const char *path, const char *name, void *value, size_t size) {
    ssize_t result = fd >= 0 ? fgetxattr(fd, name, value, size) : lgetxattr(path, name, value, size);
    return result < 0 ? -(long)errno : (long)result;
}

int custody_sync_file_system(int fd) {
#ifdef __linux__
    return syncfs(fd);
#else
    sync();
    (void)fd;
    return 0;
#endif
}
