#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's memory as the kernel accounts it.
public enum ProcessMemory {
    /// The largest resident set this process has had (`getrusage`'s `ru_maxrss`), in bytes.
    public static var peakResidentBytes: Int {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        #if canImport(Darwin)
        return usage.ru_maxrss  // bytes on Darwin
        #else
        return usage.ru_maxrss * 1024  // kibibytes on Linux
        #endif
    }

    /// `bytes` in mebibytes, rounded, for `peak_rss_mb=`-style reports.
    public static func mebibytes(_ bytes: Int) -> Int {
        (bytes + (1 << 19)) >> 20
    }
}
