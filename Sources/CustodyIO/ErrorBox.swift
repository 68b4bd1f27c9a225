import CustodyBase

/// An error carried across threads.
package final class CustodyErrorBox: @unchecked Sendable {
    /// The error boxed.
    package let error: Error
    /// A box holding `error`.
    package init(_ error: Error) { self.error = error }
}
