#ifndef CUSTODY_SYSTEM_H
#define CUSTODY_SYSTEM_H

/* Small system calls Swift cannot make directly: variadic ioctl requests on block devices, and an
 * async-signal-safe interrupt flag. Every function returns 0 on success or an errno value. */

#include <stdint.h>

/* The device's size in bytes (BLKGETSIZE64). ENOTTY when fd is not a block device. */
int custody_block_size_bytes(int fd, uint64_t *size);

/* The logical sector size, the smallest unit the device addresses (BLKSSZGET). */
int custody_block_logical_sector_size(int fd, uint32_t *size);

/* The physical sector size, the unit the device writes internally (BLKPBSZGET). */
int custody_block_physical_sector_size(int fd, uint32_t *size);

/* Installs a handler for `signo` that records the signal in the interrupt flag. The handler is one-shot
 * (SA_RESETHAND): a second signal of the same kind takes the default action and ends the process. */
int custody_interrupt_install(int signo);

/* Restores the default action for `signo`. */
int custody_interrupt_uninstall(int signo);

/* The first signal number recorded since the last reset, or 0. */
int custody_interrupt_pending(void);

/* Clears the recorded signal. */
void custody_interrupt_reset(void);

/* Records `signo` as if it had been delivered (for tests). */
void custody_interrupt_raise_flag(int signo);

#endif
