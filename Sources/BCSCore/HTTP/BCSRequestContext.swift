import Hummingbird
import NIOCore

/// The request context of every route served by `bcs serve`.
///
/// Routes read bodies themselves with explicit per-route limits (`BCSBody.collect`), so the
/// context's own `maxUploadSize` only bounds Hummingbird's generic decoding helpers.
public struct BCSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on; an upgrade route takes it over (`ConnectionTakeover`).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public var maxUploadSize: Int { 4 << 20 }
}
