#ifndef CUSTODY_FUZZER_DRIVER_H
#define CUSTODY_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's own driver (compiler-rt, LLVM 11 and later): parses the flags in argv and runs the fuzzing loop on
/// `callback`. custody's fuzz binary calls it from its Swift `main`, so libFuzzer's `main` is never linked.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// libFuzzer's default mutator, for custom mutators to start from.
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#endif
