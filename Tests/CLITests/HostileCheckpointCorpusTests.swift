import Foundation
import HDF5
import TestSupport
import XCTest

/// A generated corpus of damaged and hostile checkpoints, made from a real one of a tiny run:
/// every root attribute out of range or of the wrong type, adapter attributes that contradict the
/// tensors, non-finite tensors and moments, missing and extra objects, truncations, flipped data
/// bytes, and files that are no checkpoint at all. `inspect` must refuse each with one line
/// naming the file; `train --resume FILE` must refuse it the same way; `--resume auto` must pass
/// over it to the newest good checkpoint and end bitwise where an undisturbed run ends.
final class HostileCheckpointCorpusTests: XCTestCase {
    private struct Case {
        var label: String
        /// Damages the copy at the path (an HDF5 edit or a byte-level change).
        var damage: (String) throws -> Void
        /// Whether `inspect` can tell (a checkpoint of another model looks fine on its own).
        var inspectSees = true
    }

    private func edit(_ body: @escaping (HDF5File) throws -> Void) -> (String) throws -> Void {
        { path in
            let file = try HDF5File.open(path, mode: .readWrite)
            try body(file)
            try file.close()
        }
    }

    private func rootAttribute<T: HDF5Scalar>(_ name: String, _ value: T) -> Case {
        Case(label: "\(name)=\(value)", damage: edit { try $0.root.attributes.set(name, value) })
    }

    private func adapterAttribute<T: HDF5Scalar>(_ name: String, _ value: T) -> Case {
        Case(label: "adapter \(name)=\(value)", damage: edit { try $0.root.openGroup("adapters/layers.0.self_attn.q_proj").attributes.set(name, value) })
    }

    private func replaceDataset(_ path: String, _ change: @escaping ([Float]) -> ([Float], [Int]?)) -> (String) throws -> Void {
        edit { file in
            let dataset = try file.root.openDataset(path)
            let (values, shape) = change(try dataset.read(as: Float.self))
            let original = try dataset.shape()
            try file.root.remove(path)
            try file.root.write(path, values, shape: shape ?? original)
        }
    }

    /// Flips one byte inside the stored values of dataset `path`: found by its bytes, so the
    /// damage lands in data that Fletcher32 covers.
    private func flipData(of path: String) -> (String) throws -> Void {
        { file in
            let values = try HDF5File.open(file).root.read(path, as: Float.self)
            let needle = values.prefix(4).withUnsafeBytes { Array($0) }
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            guard let start = (0...(bytes.count - needle.count)).first(where: { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }) else {
                throw CocoaError(.fileReadCorruptFile)
            }
            bytes[start + 2] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: file))
        }
    }

    private func truncate(toFraction fraction: Double) -> (String) throws -> Void {
        { path in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: path))
        }
    }

    private func corpus(job: TinyJob) -> [Case] {
        let q = "adapters/layers.0.self_attn.q_proj"
        var cases: [Case] = []
        for value: Int64 in [-1, -9_223_372_036_854_775_808, 1_000_000_000_000, 9_223_372_036_854_775_807] {
            cases.append(rootAttribute("step", value))
        }
        cases += [rootAttribute("epoch", Int64(-5)), rootAttribute("data_cursor", Int64(-1)), rootAttribute("tokens_seen", Int64(-1)),
                  rootAttribute("world_size", Int64(0)), rootAttribute("world_size", Int64(1_000_000_000)),
                  rootAttribute("format_version", Int64(2)), rootAttribute("adapter_parameters", Int64(7)),
                  rootAttribute("step", 4.0), rootAttribute("step", Int32(4))]
        cases += [
            Case(label: "format other", damage: edit { try $0.root.attributes.set("format", "ttl-train-metrics") }),
            Case(label: "step as text", damage: edit { try $0.root.attributes.set("step", "4") }),
            Case(label: "no step", damage: edit { try $0.root.attributes.remove("step") }),
            Case(label: "kind vera", damage: edit { try $0.root.attributes.set("adapter_kind", "vera") }),
            Case(label: "kind tt-lora over lora tensors", damage: edit { try $0.root.attributes.set("adapter_kind", "tt-lora") }),
            Case(label: "another model", damage: edit { try $0.root.attributes.set("model_fingerprint", "sha256:another") }, inspectSees: false),
        ]
        for value: Int64 in [1_000_000_000_000_000, 0, 3, -1] { cases.append(adapterAttribute("rank", value)) }
        cases += [adapterAttribute("in_features", Int64(65)), adapterAttribute("out_features", Int64(9_223_372_036_854_775_807)),
                  adapterAttribute("layer", Int64(-1)), adapterAttribute("alpha", Double.nan), adapterAttribute("alpha", -1.0),
]
        for factors: [Int64] in [[8, 8], [4_294_967_296, 4_294_967_296]] {
            cases.append(Case(label: "adapter in_factors=\(factors)", damage: edit { try $0.root.openGroup(q).attributes.set("in_factors", factors) }))
        }
        cases += [
            Case(label: "adapter kind tt-lora", damage: edit { try $0.root.openGroup(q).attributes.set("kind", "tt-lora") }),
            Case(label: "NaN in A", damage: replaceDataset("\(q)/A") { values in (values.enumerated().map { $0.offset == 5 ? .nan : $0.element }, nil) }),
            Case(label: "inf in B", damage: replaceDataset("\(q)/B") { values in (values.enumerated().map { $0.offset == 0 ? .infinity : $0.element }, nil) }),
            Case(label: "A reshaped", damage: replaceDataset("\(q)/A") { values in (values, [values.count / 4, 4]) }),
            Case(label: "A shortened", damage: replaceDataset("\(q)/A") { values in (Array(values.dropLast(4)), [values.count - 4]) }),
            Case(label: "B missing", damage: edit { try $0.root.remove("\(q)/B") }),
            Case(label: "extra tensor", damage: edit { try $0.root.write("\(q)/C", [Float](repeating: 0, count: 4)) }),
            Case(label: "negative second moment", damage: replaceDataset("optimizer/second_moment") { values in ([-1] + values.dropFirst(), nil) }),
            Case(label: "infinite second moment", damage: replaceDataset("optimizer/second_moment") { values in (values.dropLast() + [.infinity], nil) }),
            Case(label: "NaN first moment", damage: replaceDataset("optimizer/first_moment") { values in ([.nan] + values.dropFirst(), nil) }),
            Case(label: "short first moment", damage: replaceDataset("optimizer/first_moment") { values in (Array(values.dropLast()), [values.count - 1]) }),
            Case(label: "optimizer steps -1", damage: edit { try $0.root.openGroup("optimizer").attributes.set("steps", Int64(-1)) }),
            Case(label: "optimizer steps past step", damage: edit { try $0.root.openGroup("optimizer").attributes.set("steps", Int64(1_000_000_000_000)) }),
            Case(label: "no optimizer", damage: edit { try $0.root.remove("optimizer") }),
            Case(label: "no adapters", damage: edit { try $0.root.remove("adapters") }),
            Case(label: "flip in A", damage: flipData(of: "\(q)/A")),
            Case(label: "flip in B", damage: flipData(of: "\(q)/B")),
            Case(label: "flip in first moment", damage: flipData(of: "optimizer/first_moment")),
            Case(label: "flip in second moment", damage: flipData(of: "optimizer/second_moment")),
            Case(label: "empty file", damage: truncate(toFraction: 0)),
            Case(label: "truncated to 1%", damage: truncate(toFraction: 0.01)),
            Case(label: "truncated to half", damage: truncate(toFraction: 0.5)),
            Case(label: "truncated by one byte", damage: { path in
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                try bytes.dropLast().write(to: URL(fileURLWithPath: path))
            }),
            Case(label: "a model file", damage: { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.copyItem(atPath: job.modelPath, toPath: path)
            }),
            Case(label: "a data file", damage: { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.copyItem(atPath: job.dataPath, toPath: path)
            }),
            Case(label: "text", damage: { path in try "step: 4\n".write(toFile: path, atomically: false, encoding: .utf8) }),
            Case(label: "link to /dev/zero", damage: { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
            }),
        ]
        return cases
    }

    func testEveryDamagedCheckpointIsRefusedWithOneLineAndAutoResumePassesOverIt() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        let whole = directory.path("whole")
        let spec = try job.writeSpec(steps: 4, output: whole)
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", spec]).status, 0)
        let good = "\(whole)/checkpoints/step-000004.h5"
        let cases = corpus(job: job)
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        var refused = 0
        for (index, hostile) in cases.enumerated() {
            let path = directory.path("case-\(index).h5")
            try FileManager.default.copyItem(atPath: good, toPath: path)
            try hostile.damage(path)
            let context = "case \(index) '\(hostile.label)'"
            if hostile.inspectSees {
                let inspect = try ChildProcess.run(ChildProcess.ttlTrainPath, ["inspect", path], timeout: 20)
                assertOneLineRefusal(inspect, naming: path, context: "\(context) inspect")
            }
            let output = directory.path("resumed-\(index)")
            try job.yaml(steps: 4, output: output).write(toFile: spec, atomically: true, encoding: .utf8)
            let resume = try ChildProcess.run(ChildProcess.ttlTrainPath, ["train", spec, "--resume", path], timeout: 20)
            assertOneLineRefusal(resume, naming: path, context: "\(context) --resume")
            if resume.status == 1 && resume.stderr.split(separator: "\n").count == 1 { refused += 1 }
        }
        XCTAssertEqual(refused, cases.count)
        print("hostile checkpoints: \(cases.count) tried, \(refused) refused with one line")

        // --resume auto passes over a damaged newest checkpoint and ends where the whole run ended.
        for label in ["NaN in A", "step=1000000000000", "truncated to half", "infinite second moment", "link to /dev/zero"] {
            let hostile = try XCTUnwrap(cases.first { $0.label == label })
            let output = directory.path("auto-\(label.filter(\.isLetter))")
            try FileManager.default.createDirectory(atPath: "\(output)/checkpoints", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(whole)/checkpoints/step-000002.h5", toPath: "\(output)/checkpoints/step-000002.h5")
            try FileManager.default.copyItem(atPath: good, toPath: "\(output)/checkpoints/step-000004.h5")
            try hostile.damage("\(output)/checkpoints/step-000004.h5")
            try job.yaml(steps: 4, output: output).write(toFile: spec, atomically: true, encoding: .utf8)
            let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["train", spec, "--resume", "auto"], timeout: 60)
            XCTAssertEqual(run.status, 0, "\(label): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("skipped \(output)/checkpoints/step-000004.h5"), "\(label): \(run.stdout)")
            XCTAssertTrue(run.stdout.contains("resuming from \(output)/checkpoints/step-000002.h5 at step 2"), "\(label): \(run.stdout)")
            try assertSameAdapters("\(output)/checkpoints/step-000004.h5", good, label)
        }
    }

    private func assertOneLineRefusal(_ run: ChildProcess, naming path: String, context: String) {
        XCTAssertFalse(run.timedOut, "\(context): still running")
        XCTAssertEqual(run.status, 1, "\(context): \(run.stderr)")
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(context): \(run.stderr)")
        XCTAssertTrue(run.stderr.hasPrefix("Error: ") && run.stderr.contains(path), "\(context): \(run.stderr)")
    }

    private func assertSameAdapters(_ path: String, _ reference: String, _ context: String) throws {
        let (file, expected) = (try HDF5File.open(path), try HDF5File.open(reference))
        for dataset in ["optimizer/first_moment", "optimizer/second_moment", "adapters/layers.1.mlp.down_proj/B"] {
            XCTAssertEqual(try file.root.read(dataset, as: Float.self), try expected.root.read(dataset, as: Float.self), "\(context): \(dataset)")
        }
    }
}
