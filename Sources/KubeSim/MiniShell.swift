import Foundation

/// The tiny shell `pods/exec` runs: `echo`, `cat`, `env`, `hostname`, `sleep`, `exit N`, `true`,
/// `false`, `pwd`, and `sh -c '<commands>'` joining them with `;`, `&&` or `||`.
///
/// Enough for what tests and demos do with `kubectl exec`; a real container is not simulated.
struct MiniShell: Sendable {
    let hostname: String
    let environment: [(String, String)]
    let stdin: AsyncStream<[UInt8]>
    let stdout: @Sendable ([UInt8]) async -> Void
    let stderr: @Sendable ([UInt8]) async -> Void

    /// Runs an argv (as exec's `command` parameters give it) and returns the exit code.
    func run(_ argv: [String]) async -> Int {
        guard let program = argv.first else { return 0 }
        if program == "sh" || program == "/bin/sh" || program == "bash" || program == "/bin/bash" {
            guard argv.count >= 3, argv[1] == "-c" else {
                await stderr(Array("sh: only `sh -c '<command>'` is supported\n".utf8))
                return 2
            }
            return await script(argv[2])
        }
        return await command(argv)
    }

    private func script(_ text: String) async -> Int {
        var status = 0
        var skipNext = false
        for (words, joiner) in Self.parse(text) {
            if !skipNext, !words.isEmpty {
                if words.first == "exit" { return Int(words.dropFirst().first ?? "0") ?? 2 }
                status = await command(words)
            }
            switch joiner {
            case "&&": skipNext = status != 0
            case "||": skipNext = status == 0
            default: skipNext = false
            }
        }
        return status
    }

    private func command(_ argv: [String]) async -> Int {
        let arguments = Array(argv.dropFirst())
        switch (argv[0] as NSString).lastPathComponent {
        case "echo":
            let noNewline = arguments.first == "-n"
            let text = (noNewline ? Array(arguments.dropFirst()) : arguments).joined(separator: " ")
            await stdout(Array((noNewline ? text : text + "\n").utf8))
            return 0
        case "cat":
            for await chunk in stdin { await stdout(chunk) }
            return 0
        case "env", "printenv":
            await stdout(Array(environment.map { "\($0.0)=\($0.1)\n" }.joined().utf8))
            return 0
        case "hostname":
            await stdout(Array((hostname + "\n").utf8))
            return 0
        case "pwd":
            await stdout(Array("/\n".utf8))
            return 0
        case "sleep":
            let seconds = Double(arguments.first ?? "0") ?? 0
            try? await Task.sleep(for: .milliseconds(Int(max(0, min(seconds, 3600)) * 1000)))
            return 0
        case "exit": return Int(arguments.first ?? "0") ?? 2
        case "true": return 0
        case "false": return 1
        default:
            await stderr(Array("sh: \(argv[0]): not found\n".utf8))
            return 127
        }
    }

    /// Splits a command line into commands (words, with `'…'`/`"…"` quoting) and the operator after each.
    static func parse(_ text: String) -> [([String], String)] {
        var result: [([String], String)] = []
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var chars = Array(text)[...]
        func endWord() { if inWord { words.append(word); word = ""; inWord = false } }
        while let char = chars.popFirst() {
            if let q = quote {
                if char == q { quote = nil } else { word.append(char) }
                continue
            }
            switch char {
            case "'", "\"": quote = char; inWord = true
            case " ", "\t", "\n": endWord()
            case ";": endWord(); result.append((words, ";")); words = []
            case "&" where chars.first == "&", "|" where chars.first == "|":
                chars.removeFirst(); endWord(); result.append((words, "\(char)\(char)")); words = []
            case "\\": if let next = chars.popFirst() { word.append(next); inWord = true }
            default: word.append(char); inWord = true
            }
        }
        endWord()
        result.append((words, ""))
        return result
    }
}
