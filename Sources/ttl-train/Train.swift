import ArgumentParser
import Distributed
import Foundation
import Kernels
import Training

/// `ttl-train train JOB.yaml` (or just `ttl-train JOB.yaml`), under `mpirun -np N` for N ranks.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the adapters a job spec describes (run under mpirun for several ranks).")

    @OptionGroup var options: JobOptions

    @Option(help: ArgumentHelp("Continue from 'auto' (the newest checkpoint that verifies) or a checkpoint file.", valueName: "auto|path"))
    var resume: String?

    @Option(help: "OpenBLAS threads per rank. (default: this machine's cores ÷ ranks on it)")
    var threads: Int?

    func run() throws {
        let world = try MPICommunicator.world()
        BLASThreads.set(threads ?? Self.defaultThreads())
        let trainer = try agreeing(world) {
            try Trainer(spec: try options.load(), file: options.job, communicator: world)
        }
        let mode: ResumeMode = resume.map { $0 == "auto" ? .auto : .checkpoint($0) } ?? .fresh
        do {
            let state = try trainer.run(resume: mode) { line in print(line); fflush(nil) }
            if world.isRoot { print("done: \(state.step) steps, \(state.tokensSeen) supervised tokens; files in \(trainer.spec.output)") }
        } catch {
            if world.size > 1 { world.abort("\(error)", exitCode: 1) }
            throw error
        }
    }

    /// Cores shared by the ranks on this node (Open MPI says how many there are), so ranks do
    /// not oversubscribe the cores with BLAS threads.
    private static func defaultThreads() -> Int {
        let ranksHere = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / ranksHere)
    }

    /// Runs `body` on every rank; if it failed anywhere, every rank exits non-zero and rank 0
    /// prints the first failure once, instead of some ranks waiting for the others forever.
    private func agreeing<Value>(_ world: Communicator, _ body: () throws -> Value) throws -> Value {
        var result: Result<Value, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var message: [UInt8] = []
        if case .failure(let error) = result { message = Array("\(error)".utf8) }
        let messages = try world.allgather(message)
        if let (rank, first) = messages.enumerated().first(where: { !$0.element.isEmpty }) {
            guard world.isRoot else { throw ExitCode.failure }
            let text = String(decoding: first, as: UTF8.self)
            throw TrainerError(problem: rank == 0 ? text : "rank \(rank): \(text)")
        }
        return try result.get()
    }
}
