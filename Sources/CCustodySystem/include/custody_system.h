#ifndef CUSTODY_SYSTEM_H
#define CUSTODY_SYSTEM_H

/* Small system calls Swift cannot make directly: variadic ioctl requests on block devices, and an
 * async-signal-safe interrupt flag. Every function returns 0 on success or an errno value. */

#include <stddef.h>
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

/* Guarded read-only file mappings. A file truncated (or failing) under a mapping makes the next access to the
 * lost pages raise SIGBUS; for a guarded mapping the handler replaces each such page with a page of zeros and
 * marks the mapping damaged instead, so the reader carries on and reports the damage when it checks.
 * SIGBUS outside every guarded mapping goes to the previous handler (or the default action). */

/* Maps `length` bytes of `fd` at `offset` (a multiple of the page size) read-only, pre-faulted when
 * `populate` is set, and guards the mapping under `*guard`. ENOSPC when every guard is taken. */
int custody_map_guarded(int fd, uint64_t offset, size_t length, int populate, void **address, int *guard);

/* Whether a guarded mapping lost pages since it was made (1) or not (0). */
int custody_mapping_damaged(int guard);

/* Stops guarding and unmaps; returns whether the mapping was damaged. */
int custody_unmap_guarded(void *address, size_t length, int guard);

/* Turns direct I/O (O_DIRECT: no page cache) on or off for an open file description. EINVAL where the file
 * system does not support it; ENOTSUP on systems without O_DIRECT. */
int custody_set_direct_io(int fd, int enabled);

/* The offset of the first byte of data at or after `offset` (lseek SEEK_DATA), in *next. ENXIO when only a hole
 * follows `offset`; EINVAL or ENOTSUP where the file system or the system cannot tell. Moves the file offset. */
int custody_next_data(int fd, uint64_t offset, uint64_t *next);

/* CRC-32 (gzip's polynomial) folding with carry-less multiplication (PCLMULQDQ), after Intel's "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ Instruction". Folds the longest prefix of `bytes` that is
 * a multiple of 16 bytes (at least 64) into 16 bytes `folded`, with `register` (the CRC register, i.e. the
 * running CRC already inverted) mixed into the first bytes, and returns the prefix length: the raw CRC register
 * over `folded` from zero equals the register over the prefix from `register`. Returns 0 (nothing folded) when
 * `count` < 64 or the processor lacks the instructions; the caller computes the CRC the table way then. */
size_t custody_crc32_fold(uint32_t register_, const uint8_t *bytes, size_t count, uint8_t folded[16]);

/* What the collection walker records of one directory entry: statx where the system has it (with the birth time
 * when the file system gives it), fstatat otherwise. Times are seconds and nanoseconds since the epoch. */
struct custody_file_status {
    uint64_t device;
    uint64_t inode;
    uint64_t size;
    uint64_t allocated_bytes;
    uint64_t link_count;
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    uint32_t has_birth_time;
    int64_t modified_seconds;
    int64_t accessed_seconds;
    int64_t changed_seconds;
    int64_t birth_seconds;
    uint32_t modified_nanoseconds;
    uint32_t accessed_nanoseconds;
    uint32_t changed_nanoseconds;
    uint32_t birth_nanoseconds;
};

/* The status of `name` relative to directory `dirfd`, following a final symbolic link only when `follow` is set;
 * with `name` empty, the status of `dirfd` itself (AT_EMPTY_PATH). Returns 0 or an errno value. */
int custody_status_at(int dirfd, const char *name, int follow, struct custody_file_status *status);

/* The physical offset of the first extent of the open file `fd` (FIEMAP), in *physical. ENODATA when the file has
 * no extent (empty or all holes); EOPNOTSUPP or ENOTTY where the file system cannot tell. */
int custody_first_physical_extent(int fd, uint64_t *physical);

/* The names of the extended attributes of open file `fd` (flistxattr) or, when `fd` < 0, of `path` without
 * following a final link (llistxattr): the length written (or needed, with `size` 0), or minus an errno value. */
long custody_xattr_list(int fd, const char *path, char *list, size_t size);

/* The value of extended attribute `name`, as custody_xattr_list names the file: the length or minus an errno. */
long custody_xattr_get(int fd, const char *path, const char *name, void *value, size_t size);

/// syncfs(2): flushes the whole file system holding `fd`. Returns 0, or -1 with errno set.
int custody_sync_file_system(int fd);

#endif
