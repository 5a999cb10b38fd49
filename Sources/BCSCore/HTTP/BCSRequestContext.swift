import Hummingbird

/// The request context of every route served by `bcs serve`.
///
/// Routes read bodies themselves with explicit per-route limits (`BCSBody.collect`), so the
/// context's own `maxUploadSize` only bounds Hummingbird's generic decoding helpers.
public struct BCSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { 4 << 20 }
}
