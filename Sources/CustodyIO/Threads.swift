import CustodyBase
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Counts the concurrent tasks still working on one thing; the last to finish learns it is the last.
package final class Countdown: Sendable {
    private let remaining: Atomic<Int>

    /// A countdown from `count`.
    package init(_ count: Int) { remaining = Atomic(count) }

    /// Records one task done; true for the last.
    package func finishOne() -> Bool { remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}

/// Cores available to this process.
public func activeProcessorCount() -> Int {
    #if canImport(Glibc)
    let count = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    return count > 0 ? Int(count) : 1
    #else
    return 1
    #endif
}

/// Runs each body on a thread of its own and waits for them all.
package func runOnThreads(_ bodies: [@Sendable () -> Void]) {
    let next = Mutex(0)
    runOnThreads(bodies.count) {
        let index = next.withLock { count -> Int in
            defer { count += 1 }
            return count
        }
        bodies[index]()
    }
}

/// Runs `body` on `count` new threads and waits for them all; runs it on the calling thread when the system
/// refuses a thread.
package func runOnThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
    final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    var threads: [pthread_t] = []
    for _ in 0..<count {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if status == 0 {
            threads.append(thread)
        } else {
            Unmanaged<Body>.fromOpaque(context).release()
            body()
        }
    }
    for thread in threads { pthread_join(thread, nil) }
}

extension DispatchSemaphore {
    /// A semaphore holding `count` permits that may be released while permits are still taken. libdispatch traps
    /// (SIGILL) when a semaphore made with a value is released holding fewer than that value, which is what a run
    /// stopped mid-way (an interrupt, a read error) leaves behind; one made at 0 and signalled up has no such floor.
    package static func permits(_ count: Int) -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        for _ in 0..<count { semaphore.signal() }
        return semaphore
    }
}

/// Threads started together and joined later: work that must run beside the caller's own (a walk feeding
/// workers while the caller consumes results).
package final class StartedThreads {
    private var threads: [pthread_t] = []
    /// How many of the bodies got a thread (the first ones; starting stops at the first the system refuses).
    package private(set) var startedCount = 0

    /// Starts the bodies, in order, each on a thread of its own, until the system refuses one (see `startedCount`).
    package init(_ bodies: [@Sendable () -> Void]) {
        final class Body: Sendable {
            let run: @Sendable () -> Void
            init(_ run: @escaping @Sendable () -> Void) { self.run = run }
        }
        for body in bodies {
            let context = Unmanaged.passRetained(Body(body)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<Body>.fromOpaque(context).release()
                break
            }
            threads.append(thread)
        }
        startedCount = threads.count
    }

    /// Waits for every started thread to end.
    package func join() {
        for thread in threads { pthread_join(thread, nil) }
        threads = []
    }
}
