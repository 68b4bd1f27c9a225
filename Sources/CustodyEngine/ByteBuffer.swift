/// A heap buffer that outlives the closures passing it between stages.
final class ByteBuffer: @unchecked Sendable {
    /// The whole allocation.
    let storage: UnsafeMutableRawBufferPointer
    /// The bytes in use, from the start.
    var count = 0

    /// A buffer of `capacity` bytes (at least one), 64-byte aligned.
    init(capacity: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
    }

    deinit { storage.deallocate() }

    /// The bytes in use.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }
}
