// ThreadSanitizer and Synchronization.Mutex on Linux: four threads append to an array under one Mutex, each
// holding it for 200 us so the others block. The count is always 800 (no update lost), yet TSan reports a
// "Swift access race" on the array: a contended Mutex is taken in the kernel (PI futex), where TSan sees no
// acquire. custody's TSan reports of this shape are triaged by tsan-triage.sh, not suppressed.
//   swiftc -sanitize=thread -o /tmp/tsan-mutex Tests/Sanitizers/tsan-mutex-contention.swift && /tmp/tsan-mutex
import Glibc
import Synchronization

final class Box: @unchecked Sendable { let state = Mutex([Int]()) }
let box = Box()
var threads: [pthread_t] = []
for _ in 0..<4 {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        for _ in 0..<200 { box.state.withLock { $0.append(1); usleep(200) } }
        return nil
    }, nil)
    threads.append(thread)
}
for thread in threads { pthread_join(thread, nil) }
print(box.state.withLock { $0.count })
