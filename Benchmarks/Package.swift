// swift-tools-version: 6.1
// Benchmarks live in their own package so `swift build` of the product never compiles them.
import PackageDescription

let package = Package(
    name: "bcs-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "bcs", path: ".."),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.25.0"),
    ],
    targets: [
        .executableTarget(
            name: "MongoInsertBenchmark",
            dependencies: [.product(name: "BCSMongo", package: "bcs")],
            path: "Sources/MongoInsertBenchmark"
        ),
        .executableTarget(
            name: "StorageBenchmark",
            dependencies: [
                .product(name: "BCSMongo", package: "bcs"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/StorageBenchmark"
        ),
        .executableTarget(
            name: "UserManagerBenchmark",
            dependencies: [.product(name: "BCSMongo", package: "bcs")],
            path: "Sources/UserManagerBenchmark"
        ),
    ]
)
