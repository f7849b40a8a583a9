import ArgumentParser
import ChatTemplates
import Dispatch
import Foundation
import HDF5
import Kernels
import Llama
import Tokenizer
import Training

/// `ttl-train generate`: text from the base model, or with a checkpoint's adapters, one token per
/// step through a key/value cache, streamed as it comes.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with the base model or a checkpoint's adapters (greedy or seeded sampling, KV cache).",
        discussion: """
            The prompt runs once; every new token then costs one token's forward (its keys and values \
            are cached). --chat renders the message with the model's chat template, as transformers' \
            apply_chat_template(add_generation_prompt=True) does. Generation stops at the model's \
            end-of-sequence token, its tokenizer's eos_token, or --max-tokens. The text streams to stdout; tokens/s go \
            to stderr at the end.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: ArgumentHelp("Apply this checkpoint's adapters (trained on this model).", valueName: "checkpoint.h5"))
    var checkpoint: String?

    @Option(help: ArgumentHelp("Apply the newest verifying checkpoint of this job's output.", valueName: "job.yaml"))
    var job: String?

    @Option(help: "The text to continue.")
    var prompt: String?

    @Option(
        help: "A user message, rendered with the model's chat template (tokenizer_config.json beside the tokenizer).")
    var chat: String?

    @Option(help: "A system message for --chat (default: none; the template may add its own).")
    var system: String?

    @Option(help: ArgumentHelp("A Jinja chat template for --chat instead of the tokenizer's.", valueName: "path"))
    var template: String?

    @Option(name: .customLong("max-tokens"), help: "Tokens to generate at most.")
    var maxTokens = 64

    @Option(help: "Sampling temperature; 0 is greedy (the most likely token every step).")
    var temperature = 0.0

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens only.")
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens whose probabilities add up to p.")
    var topP = 1.0

    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("tokenizer.json (default: the one beside the model).", valueName: "path"))
    var tokenizer: String?

    @Option(
        name: .customLong("ids-out"),
        help: ArgumentHelp("Write the generated ids as one line (- for stdout, after the text).", valueName: "path"))
    var idsOut: String?

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard (prompt == nil) != (chat == nil) else { throw ValidationError("give one of --prompt and --chat") }
        guard checkpoint == nil || job == nil else {
            throw ValidationError("give at most one of --checkpoint and --job")
        }
        guard system == nil || chat != nil else { throw ValidationError("--system goes with --chat") }
        guard template == nil || chat != nil else { throw ValidationError("--template goes with --chat") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be 0 or positive")
        }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard (topK ?? 1) >= 1 else { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        threads.apply()
        let file = try model.open()
        let (tokenizer, tokenizerPath, _) = try TokenizerFile.open(self.tokenizer, model: file)
        let chatTemplate =
            chat == nil
            ? nil
            : try TokenizerFile.chatTemplate(template, config: try TokenizerConfig.beside(tokenizer: tokenizerPath))
        var text = prompt ?? ""
        if let chat {
            guard let chatTemplate else {
                throw CommandError(
                    "\(tokenizerPath): has no chat template beside it (tokenizer_config.json); "
                        + "re-import the model or pass --template FILE")
            }
            let messages =
                (system.map { [Message(role: "system", content: $0)] } ?? []) + [Message(role: "user", content: chat)]
            text = try chatTemplate.render(messages, addGenerationPrompt: true)
        }
        let promptIDs = tokenizer.encode(text)
        guard !promptIDs.isEmpty else { throw CommandError("the prompt is empty") }
        // --max-tokens may be as large as Int allows: bounded by the context before adding.
        let capacity = min(promptIDs.count + min(maxTokens, file.config.contextLength), file.config.contextLength)
        guard promptIDs.count < capacity else {
            throw CommandError(
                "the prompt has \(promptIDs.count) tokens; the model's context is \(file.config.contextLength)")
        }
        let inference = InferenceModel(
            weights: try LlamaWeights(file: file), fingerprint: file.fingerprint, maxTokens: 64,
            maxSequenceLength: capacity)
        if let source = try adapterCheckpoint() { try inference.load(checkpoint: source) }
        let cache = KeyValueCache(model: inference.model, capacity: capacity)
        let stops = Set(
            [
                file.endOfSequence, chatTemplate?.eosToken.flatMap(tokenizer.specialID),
                tokenizer.specialID("<|endoftext|>"),
            ].compactMap { $0 })
        var sampler = TokenSampler(temperature: temperature, topK: topK, topP: topP, seed: seed)

        let started = DispatchTime.now().uptimeNanoseconds
        var logits = try inference.model.decode(promptIDs, cache: cache)
        let prefilled = DispatchTime.now().uptimeNanoseconds
        var generated: [Int32] = []
        // Tokens not printed yet: a character split across tokens decodes as U+FFFD until its
        // last byte arrives, so text is printed once the pending tokens end on a whole character.
        var pending: [Int32] = []
        while generated.count < maxTokens && cache.count < capacity {
            let next = sampler.next(logits)
            if stops.contains(next) { break }
            generated.append(next)
            pending.append(next)
            let text = tokenizer.decode(pending)
            if !text.hasSuffix("\u{FFFD}") {
                FileHandle.standardOutput.write(Data(text.utf8))
                pending = []
            }
            guard generated.count < maxTokens, cache.count < capacity else { break }
            logits = try inference.model.decode([next], cache: cache)
        }
        let finished = DispatchTime.now().uptimeNanoseconds
        FileHandle.standardOutput.write(Data((tokenizer.decode(pending) + "\n").utf8))
        let ids = generated.map(String.init).joined(separator: " ")
        if idsOut == "-" {
            FileHandle.standardOutput.write(Data((ids + "\n").utf8))
        } else if let idsOut {
            try DurableFile.write(Array((ids + "\n").utf8), to: idsOut)
        }
        let decodeSeconds = Double(finished - prefilled) / 1e9
        let steps = max(generated.count - 1, 0)
        FileHandle.standardError.write(
            Data(
                String(
                    format: "prompt %d tokens in %.2f s; generated %d tokens, %.1f tokens/s\n", promptIDs.count,
                    Double(prefilled - started) / 1e9, generated.count, steps > 0 ? Double(steps) / decodeSeconds : 0
                ).utf8))
    }

    /// `--checkpoint`, or the newest checkpoint of `--job`'s output that opens, or nil.
    private func adapterCheckpoint() throws -> String? {
        if let checkpoint { return checkpoint }
        guard let job else { return nil }
        let spec = try JobSpec.load(path: job)
        guard
            let newest = Checkpoint.list(spec.checkpointDirectory).first(where: {
                (try? Checkpoint.state(of: $0)) != nil
            })
        else {
            throw CommandError(
                "\(spec.checkpointDirectory) has no checkpoint: train the job first or pass --checkpoint")
        }
        return newest
    }
}
