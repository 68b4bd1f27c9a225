import Synchronization

/// A pool of reusable objects (zlib streams, buffers) shared by Dispatch workers.
final class ObjectPool<Object: Sendable>: @unchecked Sendable {
    private let free = Mutex<[Object]>([])
    private let make: () throws -> Object

    /// A pool that makes objects with `make` when none is free.
    init(make: @escaping () throws -> Object) { self.make = make }

    /// A pooled object, or a new one when none is free.
    func take() throws -> Object {
        if let object = free.withLock({ $0.popLast() }) { return object }
        return try make()
    }

    /// Returns `object` to the pool.
    func give(_ object: Object) {
        free.withLock { $0.append(object) }
    }
}
