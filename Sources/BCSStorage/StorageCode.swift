import BCSCore
import Hummingbird

/// bcs-storage's error codes (1405080–1405088) and the errors built from them.
///
/// BCS answers HTTP 200 for every error; this implementation keeps the codes and messages but
/// answers with an HTTP status that reflects the outcome (Docs/compatibility-storage.md).
enum StorageCode {
    static let unmarshalFailed = 1405080
    static let marshalFailed = 1405081
    static let putFailed = 1405082
    static let getFailed = 1405083
    static let deleteFailed = 1405084
    static let listFailed = 1405085
    static let base64DecodeFailed = 1405086
    static let notExist = 1405087
    static let notReady = 1405088

    /// A request that cannot be served as given: 400 with the code for what was being attempted.
    static func badRequest(_ message: String, code: Int = unmarshalFailed) -> BCSAPIError {
        BCSAPIError(.badRequest, code: code, message)
    }

    static func notFound(_ message: String, code: Int = notExist) -> BCSAPIError {
        BCSAPIError(.notFound, code: code, message)
    }
}
