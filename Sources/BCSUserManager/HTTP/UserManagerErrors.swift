import BCSCore
import Hummingbird

/// BCS's error codes for the user-manager (`bcs-common/common/errorCode.go`, base 1405000).
public enum UserManagerCode {
    public static let internalFail = 1405050
    public static let authCheckFail = 1405057
    public static let noAuthority = 1405058
    public static let unauthorized = 1405059
    public static let clusterNotFound = 1405060
    public static let badRequest = 1405061
    public static let databaseError = 1405062
}

/// The errors the user-manager answers with, each with BCS's HTTP status, code and wording.
///
/// BCS prefixes most messages with `errcode: <code>, `; the 401 message keeps BCS's full-width
/// colon and double space byte for byte, since clients have been seen matching on it.
enum UMError {
    static let anonymousMessage = "errcode：1405059,  anonymous requests is forbidden, please provide a valid token"

    static func unauthorized(_ message: String = anonymousMessage) -> BCSAPIError {
        BCSAPIError(.unauthorized, code: UserManagerCode.unauthorized, message)
    }

    static func badRequest(_ message: String) -> BCSAPIError {
        BCSAPIError(.badRequest, code: UserManagerCode.badRequest, "errcode: \(UserManagerCode.badRequest), \(message)")
    }

    /// BCS answers a missing user with HTTP 404 but the bad-request code.
    static func notFound(_ message: String, code: Int = UserManagerCode.badRequest) -> BCSAPIError {
        BCSAPIError(.notFound, code: code, "errcode: \(code), \(message)")
    }

    static func database(_ message: String) -> BCSAPIError {
        BCSAPIError(.internalServerError, code: UserManagerCode.databaseError, "errcode: \(UserManagerCode.databaseError), \(message)")
    }

    /// The status of a request made before start-up work (indexes, seeded roles, bootstrap admin) finished.
    static let starting = BCSAPIError(.serviceUnavailable, code: UserManagerCode.internalFail,
                                      "errcode: \(UserManagerCode.internalFail), user-manager is starting (database setup not finished), retry later")
}
