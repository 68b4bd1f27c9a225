/// The tool's version, written into metadata and reports.
public enum CustodyVersion {
    /// The version, `MAJOR.MINOR.PATCH`.
    public static let string = "0.1.0"
}
