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

    /// This process's proportional set size — resident pages, each shared page divided by the
    /// processes mapping it — from `/proc/self/smaps_rollup`, in bytes; nil where the kernel does
    /// not say. What N processes sharing one copy of the weights really cost together is the sum.
    public static var proportionalSetBytes: Int? {
        guard let file = fopen("/proc/self/smaps_rollup", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("Pss:") else { continue }
            return Int(text.dropFirst(4).split(separator: " ").first ?? "").map { $0 * 1024 }
        }
        return nil
    }

    /// `bytes` in mebibytes, rounded, for `peak_rss_mb=`-style reports.
    public static func mebibytes(_ bytes: Int) -> Int {
        (bytes + (1 << 19)) >> 20
    }
}
