#if canImport(Glibc)
import Glibc
#endif

/// UTC timestamps in RFC 3339 form (`2026-11-23T21:33:50Z`), with civil-date arithmetic that needs no
/// Foundation and no time zone database.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Int64

    /// The time `secondsSinceEpoch` seconds after 1970-01-01T00:00:00Z.
    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// The current time.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(secondsSinceEpoch: Int64(spec.tv_sec))
    }

    /// Days since the epoch of a civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The civil date of a day count since the epoch.
    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// RFC 3339 UTC text with second precision.
    public var description: String {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86400 : (secondsSinceEpoch - 86399) / 86400
        let seconds = secondsSinceEpoch - days * 86400
        let (year, month, day) = Timestamp.civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):"
            + "\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))Z"
    }

    /// The date part only: `2026-11-23`.
    public var dateString: String { String(description.prefix(10)) }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (fractional seconds ignored) or a plain date `YYYY-MM-DD` (midnight UTC).
    public init?(parsing text: String) {
        let utf8 = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= utf8.count else { return nil }
            var value: Int64 = 0
            for byte in utf8[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard utf8.count >= 10, utf8[4] == 45, utf8[7] == 45,
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1...12).contains(month), day >= 1, day <= Timestamp.daysInMonth(year: year, month: month) else {
            return nil
        }
        var seconds: Int64 = 0
        if utf8.count > 10 {
            guard utf8.count >= 20, utf8[10] == 84 || utf8[10] == 116, utf8[13] == 58, utf8[16] == 58,
                  let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
                  hour < 24, minute < 60, second < 61, utf8.last == 90 || utf8.last == 122 else { return nil }
            if utf8.count > 20 {
                guard utf8[19] == 46, utf8.count > 21, number(20..<(utf8.count - 1)) != nil else { return nil }
            }
            seconds = hour * 3600 + minute * 60 + second
        }
        secondsSinceEpoch = Timestamp.daysFromCivil(year: year, month: month, day: day) * 86400 + seconds
    }

    /// The number of days of `month` (1 to 12) in `year` of the proleptic Gregorian calendar.
    public static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// This time shifted by whole days.
    public func adding(days: Int64) -> Timestamp {
        Timestamp(secondsSinceEpoch: secondsSinceEpoch + days * 86400)
    }

    /// Whether `lhs` is earlier than `rhs`.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }
}

/// A monotonic clock for measuring durations.
public enum MonotonicClock {
    /// Seconds from an arbitrary origin.
    public static func seconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
