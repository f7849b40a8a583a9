import ArgumentParser
import Distributed
import Training

/// `Communicator.agreeing` for a command: rank 0 reports the failure as its one error line, the
/// other ranks exit non-zero without a word.
func agreeing<Value>(_ world: Communicator, _ body: () throws -> Value) throws -> Value {
    do {
        return try world.agreeing(body)
    } catch let shared as SharedFailure {
        throw shared.reported
    }
}

extension SharedFailure {
    /// What a command throws for it: the failure on rank 0, a silent non-zero exit elsewhere.
    var reported: Error { underlying ?? ExitCode.failure }
}
