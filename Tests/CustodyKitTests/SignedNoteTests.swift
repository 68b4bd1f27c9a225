import XCTest
@testable import CustodyKit

final class SignedNoteTests: XCTestCase {
}
