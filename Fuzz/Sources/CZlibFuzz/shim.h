#ifndef CUSTODY_FUZZ_CZLIB_SHIM_H
#define CUSTODY_FUZZ_CZLIB_SHIM_H

#include <zlib.h>

/* zlib's one-shot raw deflate and inflate for the packed-file mutator (its own copy: the root's CZlib module is
   internal to the library). Returns the output length, or -1 when the data does not inflate or does not fit. */
static inline long custody_fuzz_inflate_raw(const unsigned char *in, size_t in_size, unsigned char *out,
                                            size_t out_capacity) {
    z_stream stream = {0};
    if (inflateInit2(&stream, -15) != Z_OK) return -1;
    stream.next_in = (unsigned char *)in;
    stream.avail_in = (uInt)in_size;
    stream.next_out = out;
    stream.avail_out = (uInt)out_capacity;
    int status = inflate(&stream, Z_FINISH);
    long produced = (long)stream.total_out;
    inflateEnd(&stream);
    return status == Z_STREAM_END ? produced : -1;
}

static inline long custody_fuzz_deflate_raw(const unsigned char *in, size_t in_size, unsigned char *out,
                                            size_t out_capacity, int level) {
    z_stream stream = {0};
    if (deflateInit2(&stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    stream.next_in = (unsigned char *)in;
    stream.avail_in = (uInt)in_size;
    stream.next_out = out;
    stream.avail_out = (uInt)out_capacity;
    int status = deflate(&stream, Z_FINISH);
    long produced = (long)stream.total_out;
    deflateEnd(&stream);
    return status == Z_STREAM_END ? produced : -1;
}

#endif
