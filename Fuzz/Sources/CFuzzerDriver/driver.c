// Declarations only: the definitions are in libFuzzer, linked by -sanitize=fuzzer.
