// CustodyKit is the whole library in one import: each layer is its own module (see ARCHITECTURE.md), and this
// module re-exports them for programs that want all of custody.
@_exported import CustodyAge
@_exported import CustodyBase
@_exported import CustodyBundle
@_exported import CustodyCrypto
@_exported import CustodyEngine
@_exported import CustodyIO
@_exported import CustodyLedger
@_exported import CustodyReport
@_exported import CustodyTar
@_exported import CustodyTransfer
