#ifndef CUSTODY_ISAL_H
#define CUSTODY_ISAL_H

#include <stddef.h>
#include <stdint.h>

/* ISA-L (Intel's Intelligent Storage Acceleration Library) deflate, inflate and CRC-32, loaded at run time.
 *
 * The shim is compiled against ISA-L's header when the build machine has it (`libisal-dev`), and opens
 * `libisal.so.2` with dlopen on first use: a machine without the library, or a build without the header, reports
 * ISA-L as unavailable and custody uses zlib for everything. Nothing here links against ISA-L. */

/* 1 when ISA-L was found (header at build time, library at run time), else 0. */
int custody_isal_available(void);

/* The library custody loaded ("libisal.so.2"), or the reason it is unavailable. */
const char *custody_isal_status(void);

/* A deflate context for one thread: the stream and the level buffer igzip's levels 1-3 need. NULL when ISA-L is
 * unavailable, the level is not 0-3, or memory ran out. */
void *custody_isal_deflater_new(int level);
void custody_isal_deflater_free(void *deflater);

/* Compresses `input` into `output` as one complete raw deflate stream (no header or trailer). Returns the
 * compressed length, -1 when it does not fit in `output`, -2 on any other failure. */
long custody_isal_deflate(void *deflater, const uint8_t *input, size_t input_count, uint8_t *output,
                          size_t output_capacity);

/* An inflate context for one thread; NULL when ISA-L is unavailable or memory ran out. */
void *custody_isal_inflater_new(void);
void custody_isal_inflater_free(void *inflater);

/* Outcomes of custody_isal_inflate. */
enum {
    CUSTODY_ISAL_INFLATE_COMPLETE = 0,   /* the stream ended; *produced and *consumed are set */
    CUSTODY_ISAL_INFLATE_OVERFLOW = 1,   /* more output than `output_capacity` */
    CUSTODY_ISAL_INFLATE_TRUNCATED = 2,  /* the input ended inside the stream */
    CUSTODY_ISAL_INFLATE_CORRUPT = 3,    /* invalid deflate data */
};

/* Inflates the raw deflate stream at the start of `input` into `output`. */
int custody_isal_inflate(void *inflater, const uint8_t *input, size_t input_count, uint8_t *output,
                         size_t output_capacity, size_t *produced, size_t *consumed);

/* The gzip CRC-32 (the same value as zlib's crc32) of `count` bytes, continuing `crc` (0 to start). Only when
 * custody_isal_available() is 1. */
uint32_t custody_isal_crc32(uint32_t crc, const uint8_t *bytes, size_t count);

#endif
