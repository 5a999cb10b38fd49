import ArgumentParser
import BCSCore
import BCSMongo

/// `bcs version`: what this binary is and what it was built with.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version of bcs and of the libraries it runs on."
    )

    func run() {
        print("bcs \(BCSVersion.current)")
        print("compatible with BCS \(BCSVersion.compatibleBCS) APIs")
        print("libmongoc \(MongoDriverInfo.libmongocVersion)")
    }
}
