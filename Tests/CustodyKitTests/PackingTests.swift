import XCTest
@testable import CustodyKit

final class PackingTests: XCTestCase {
}
