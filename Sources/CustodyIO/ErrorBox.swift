import CustodyBase

/// An error carried across threads.
package final class CustodyErrorBox: @unchecked Sendable {
    package let error: Error
    package init(_ error: Error) { self.error = error }
}
