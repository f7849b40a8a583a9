import ArgumentParser
import Distributed
import Training

/// Runs `body` on every rank; if it failed anywhere, every rank exits non-zero and rank 0
/// prints the first failure once, instead of some ranks waiting for the others forever.
func agreeing<Value>(_ world: Communicator, _ body: () throws -> Value) throws -> Value {
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
