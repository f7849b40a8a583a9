import Distributed
import Foundation
import XCTest

/// Exact expectations for every collective, written in terms of rank and size so the same tests
/// pass in one process and under `mpirun -np 2`/`-np 3` (scripts/test.sh runs all three).
final class CollectiveTests: XCTestCase {
    func testSingleProcessCommunicator() throws {
        try checkCollectives(SingleProcessCommunicator())
    }

    func testMPIWorld() throws {
        let world = try MPICommunicator.world()
        if let launched = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] {
            XCTAssertEqual(world.size, Int(launched))
        } else {
            XCTAssertEqual(world.size, 1, "a process started without mpirun is an MPI singleton")
        }
        try checkCollectives(world)
    }

    func testSingleProcessBroadcastFromAMissingRootFails() {
        var values: [Float] = [1]
        XCTAssertThrowsError(try SingleProcessCommunicator().broadcast(&values, root: 1)) { error in
            XCTAssertEqual((error as? CommunicatorError)?.operation, "broadcast")
        }
    }

    private func checkCollectives(_ world: Communicator, file: StaticString = #filePath, line: UInt = #line) throws {
        let rank = world.rank
        let size = world.size
        XCTAssertTrue((0..<size).contains(rank))
        let triangle = size * (size - 1) / 2

        var floats: [Float] = [Float(rank + 1), 0.5 * Float(rank), -Float(rank)]
        try world.allreduce(&floats, .sum)
        XCTAssertEqual(floats, [Float(size * (size + 1) / 2), 0.5 * Float(triangle), -Float(triangle)], file: file, line: line)

        var doubles: [Double] = [Double(rank) + 0.25, 1e300]
        try world.allreduce(&doubles, .max)
        XCTAssertEqual(doubles, [Double(size - 1) + 0.25, 1e300], file: file, line: line)

        var int64s: [Int64] = [(1 << 40) + Int64(rank), -Int64(rank)]
        try world.allreduce(&int64s, .sum)
        XCTAssertEqual(int64s, [Int64(size) << 40 + Int64(triangle), -Int64(triangle)], file: file, line: line)

        var extremes: [Int64] = [Int64(rank), -Int64(rank)]
        try world.allreduce(&extremes, .min)
        XCTAssertEqual(extremes, [0, -Int64(size - 1)], file: file, line: line)
        XCTAssertEqual(try world.allreduce(Float(rank), .max), Float(size - 1), file: file, line: line)
        XCTAssertEqual(try world.allreduce(Double(rank * 2), .sum), Double(2 * triangle), file: file, line: line)

        let root = size - 1
        var broadcast: [Int64] = rank == root ? (0..<Int64(size + 2)).map { $0 * 3 } : []
        try world.broadcast(&broadcast, root: root)
        XCTAssertEqual(broadcast, (0..<Int64(size + 2)).map { $0 * 3 }, file: file, line: line)
        XCTAssertEqual(try world.broadcast(rank == 0 ? "job: ünïcode ✓" : "", root: 0), "job: ünïcode ✓", file: file, line: line)

        let gathered = try world.allgather([Int32](repeating: Int32(rank), count: rank + 1))
        XCTAssertEqual(gathered, (0..<size).map { [Int32](repeating: Int32($0), count: $0 + 1) }, file: file, line: line)
        let gatheredFloats = try world.allgather([Float(rank) / 4])
        XCTAssertEqual(gatheredFloats, (0..<size).map { [Float($0) / 4] }, file: file, line: line)

        try world.barrier()
    }
}
