#include "custody_isal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__has_include) && !defined(CUSTODY_NO_ISAL)
#if __has_include(<isa-l/igzip_lib.h>) && __has_include(<dlfcn.h>) && __has_include(<pthread.h>)
#define CUSTODY_HAVE_ISAL_HEADER 1
#endif
#endif

#ifdef CUSTODY_HAVE_ISAL_HEADER

#include <dlfcn.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>

/* The ISA-L functions custody calls, found with dlsym. */
static struct {
    void (*deflate_stateless_init)(struct isal_zstream *);
    int (*deflate_stateless)(struct isal_zstream *);
    void (*inflate_init)(struct inflate_state *);
    int (*inflate_stateless)(struct inflate_state *);
    uint32_t (*crc32_gzip_refl)(uint32_t, const unsigned char *, uint64_t);
    int loaded;
    const char *status;
} isal;

static pthread_once_t isal_once = PTHREAD_ONCE_INIT;

static void isal_load(void) {
    void *library = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        isal.status = "libisal.so.2 not found (install libisal2, or libisal-dev to build with it)";
        return;
    }
    *(void **)&isal.deflate_stateless_init = dlsym(library, "isal_deflate_stateless_init");
    *(void **)&isal.deflate_stateless = dlsym(library, "isal_deflate_stateless");
    *(void **)&isal.inflate_init = dlsym(library, "isal_inflate_init");
    *(void **)&isal.inflate_stateless = dlsym(library, "isal_inflate_stateless");
    *(void **)&isal.crc32_gzip_refl = dlsym(library, "crc32_gzip_refl");
    if (!isal.deflate_stateless_init || !isal.deflate_stateless || !isal.inflate_init || !isal.inflate_stateless
        || !isal.crc32_gzip_refl) {
        isal.status = "libisal.so.2 lacks a function custody needs";
        return;
    }
    isal.loaded = 1;
    isal.status = "libisal.so.2";
}

int custody_isal_available(void) {
    pthread_once(&isal_once, isal_load);
    return isal.loaded;
}

const char *custody_isal_status(void) {
    pthread_once(&isal_once, isal_load);
    return isal.status;
}

struct custody_isal_deflater {
    struct isal_zstream stream;
    int level;
    uint32_t level_buffer_size;
    uint8_t *level_buffer;
};

static uint32_t level_buffer_size(int level) {
    switch (level) {
    case 0: return ISAL_DEF_LVL0_DEFAULT;
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    case 3: return ISAL_DEF_LVL3_DEFAULT;
    default: return 0;
    }
}

void *custody_isal_deflater_new(int level) {
    if (!custody_isal_available() || level < 0 || level > ISAL_DEF_MAX_LEVEL) return NULL;
    struct custody_isal_deflater *deflater = calloc(1, sizeof *deflater);
    if (deflater == NULL) return NULL;
    deflater->level = level;
    deflater->level_buffer_size = level_buffer_size(level);
    if (deflater->level_buffer_size > 0) {
        deflater->level_buffer = malloc(deflater->level_buffer_size);
        if (deflater->level_buffer == NULL) {
            free(deflater);
            return NULL;
        }
    }
    return deflater;
}

void custody_isal_deflater_free(void *pointer) {
    struct custody_isal_deflater *deflater = pointer;
    if (deflater == NULL) return;
    free(deflater->level_buffer);
    free(deflater);
}

long custody_isal_deflate(void *pointer, const uint8_t *input, size_t input_count, uint8_t *output,
                          size_t output_capacity) {
    struct custody_isal_deflater *deflater = pointer;
    if (input_count > UINT32_MAX || output_capacity > UINT32_MAX) return -2;
    struct isal_zstream *stream = &deflater->stream;
    isal.deflate_stateless_init(stream);
    stream->level = (uint32_t)deflater->level;
    stream->level_buf = deflater->level_buffer;
    stream->level_buf_size = deflater->level_buffer_size;
    stream->gzip_flag = IGZIP_DEFLATE;
    stream->flush = NO_FLUSH;
    stream->end_of_stream = 1;
    stream->next_in = (uint8_t *)input;
    stream->avail_in = (uint32_t)input_count;
    stream->next_out = output;
    stream->avail_out = (uint32_t)output_capacity;
    int status = isal.deflate_stateless(stream);
    if (status == STATELESS_OVERFLOW) return -1;
    if (status != COMP_OK || stream->avail_in != 0) return -2;
    return (long)stream->total_out;
}

void *custody_isal_inflater_new(void) {
    if (!custody_isal_available()) return NULL;
    return calloc(1, sizeof(struct inflate_state));
}

void custody_isal_inflater_free(void *inflater) { free(inflater); }

int custody_isal_inflate(void *pointer, const uint8_t *input, size_t input_count, uint8_t *output,
                         size_t output_capacity, size_t *produced, size_t *consumed) {
    struct inflate_state *state = pointer;
    if (input_count > UINT32_MAX || output_capacity > UINT32_MAX) return CUSTODY_ISAL_INFLATE_CORRUPT;
    isal.inflate_init(state);
    state->crc_flag = ISAL_DEFLATE;
    state->next_in = (uint8_t *)input;
    state->avail_in = (uint32_t)input_count;
    state->next_out = output;
    state->avail_out = (uint32_t)output_capacity;
    int status = isal.inflate_stateless(state);
    switch (status) {
    case ISAL_DECOMP_OK:
        *produced = state->total_out;
        /* Whole bytes still held in the bit buffer were read ahead but not used. */
        *consumed = input_count - state->avail_in - (size_t)(state->read_in_length / 8);
        return CUSTODY_ISAL_INFLATE_COMPLETE;
    case ISAL_END_INPUT: return CUSTODY_ISAL_INFLATE_TRUNCATED;
    case ISAL_OUT_OVERFLOW: return CUSTODY_ISAL_INFLATE_OVERFLOW;
    default: return CUSTODY_ISAL_INFLATE_CORRUPT;
    }
}

uint32_t custody_isal_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    return isal.crc32_gzip_refl(crc, bytes, count);
}

#else

int custody_isal_available(void) { return 0; }
const char *custody_isal_status(void) { return "built without ISA-L's header (install libisal-dev and rebuild)"; }
void *custody_isal_deflater_new(int level) { (void)level; return NULL; }
void custody_isal_deflater_free(void *deflater) { (void)deflater; }
long custody_isal_deflate(void *deflater, const uint8_t *input, size_t input_count, uint8_t *output,
                          size_t output_capacity) {
    (void)deflater; (void)input; (void)input_count; (void)output; (void)output_capacity;
    return -2;
}
void *custody_isal_inflater_new(void) { return NULL; }
void custody_isal_inflater_free(void *inflater) { (void)inflater; }
int custody_isal_inflate(void *inflater, const uint8_t *input, size_t input_count, uint8_t *output,
                         size_t output_capacity, size_t *produced, size_t *consumed) {
    (void)inflater; (void)input; (void)input_count; (void)output; (void)output_capacity; (void)produced;
    (void)consumed;
    return CUSTODY_ISAL_INFLATE_CORRUPT;
}
uint32_t custody_isal_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    (void)bytes; (void)count;
    return crc;
}

#endif
