#include "custody_system.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>

#ifdef __linux__
#include <linux/fs.h>
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
