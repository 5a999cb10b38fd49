import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Keep-alive HTTP/1.1 connections to apiservers, one pool per event loop, for proxies that run a
/// request on its event loop (the gateway's fast path, the agent's tunnel streams).
///
/// A connection is dialled on the loop of the client connection that needs it and only ever used
/// there, so a request and its upstream exchange never leave that thread.
public final class UpstreamConnectionPools: Sendable {
    let idleTimeout: TimeAmount
    let sweepInterval: TimeAmount

    /// Idle connections are closed after `idleTimeout` unused, checked every `sweepInterval`.
    public init(idleTimeout: TimeAmount = .seconds(50), sweepInterval: TimeAmount = .seconds(5)) {
        self.idleTimeout = idleTimeout
        self.sweepInterval = sweepInterval
    }

    private let pools = Mutex<[ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>]>([:])

    /// The pool of `eventLoop`; call on that loop.
    public func pool(on eventLoop: any EventLoop) -> UpstreamConnectionPool {
        let bound = pools.withLock { pools in
            let key = ObjectIdentifier(eventLoop)
            if let found = pools[key] { return found }
            let made = NIOLoopBound(UpstreamConnectionPool(eventLoop: eventLoop, idleTimeout: idleTimeout, sweepInterval: sweepInterval), eventLoop: eventLoop)
            pools[key] = made
            return made
        }
        return bound.value
    }

    /// Closes every idle connection (in-flight ones close when their exchange ends or fails).
    public func closeIdle() {
        for bound in pools.withLock({ Array($0.values) }) {
            bound.eventLoop.execute { bound.value.closeAll() }
        }
    }
}

/// The idle connections of one event loop, by route generation. Used only on that loop.
public final class UpstreamConnectionPool {
    public let eventLoop: any EventLoop
    private var idle: [Int: [UpstreamConnection]] = [:]
    private var idleCount = 0
    private var sweep: Scheduled<Void>?

    /// How many connections wait in the pool.
    public var idleConnections: Int { idleCount }

    /// Idle connections kept per route; more are closed when their exchange ends.
    static let maximumIdlePerRoute = 128
    /// Idle connections kept on one loop across all routes.
    static let maximumIdle = 1024
    /// An idle connection is closed after this long unused (an apiserver would close it anyway),
    /// give or take `sweepInterval`.
    let idleTimeout: TimeAmount
    let sweepInterval: TimeAmount
    static let connectTimeout: TimeAmount = .seconds(2)

    init(eventLoop: any EventLoop, idleTimeout: TimeAmount, sweepInterval: TimeAmount) {
        self.eventLoop = eventLoop
        self.idleTimeout = idleTimeout
        self.sweepInterval = sweepInterval
    }

    /// The most recently used idle connection for the route, if any.
    public func take(generation: Int) -> UpstreamConnection? {
        while let connection = idle[generation]?.popLast() {
            idleCount -= 1
            connection.exchange.leaveIdle()
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Takes back a connection whose exchange ended cleanly; it waits for the next request.
    public func put(_ connection: UpstreamConnection) {
        guard connection.channel.isActive, idleCount < Self.maximumIdle, (idle[connection.generation]?.count ?? 0) < Self.maximumIdlePerRoute else {
            connection.channel.close(promise: nil)
            return
        }
        idle[connection.generation, default: []].append(connection)
        idleCount += 1
        connection.idleSince = .now()
        connection.exchange.enterIdle()
        if sweep == nil { armSweep() }
    }

    /// One timer per loop closes connections idle too long: a timer per connection, set and
    /// cancelled around every request, cost the fast path more than the rest of the pool did.
    private func armSweep() {
        sweep = eventLoop.assumeIsolated().scheduleTask(in: sweepInterval) { [weak self] in
            self?.closeExpired()
        }
    }

    private func closeExpired() {
        sweep = nil
        let cutoff = NIODeadline.now() - idleTimeout
        // Closing a connection removes it from `idle` (its handler reports it), so collect first.
        let expired = idle.values.flatMap { $0.filter { $0.idleSince < cutoff } }
        for connection in expired { connection.channel.close(promise: nil) }
        // The closed ones may or may not have left `idle` yet; a sweep too many finds nothing.
        if idleCount > 0 { armSweep() }
    }

    private func remove(_ connection: UpstreamConnection) {
        guard let index = idle[connection.generation]?.firstIndex(where: { $0 === connection }) else { return }
        idle[connection.generation]?.remove(at: index)
        if idle[connection.generation]?.isEmpty == true { idle[connection.generation] = nil }
        idleCount -= 1
    }

    public func closeAll() {
        let all = idle.values.flatMap { $0 }
        idle = [:]
        idleCount = 0
        for connection in all { connection.channel.close(promise: nil) }
    }

    /// Dials an apiserver from this loop (TLS when `tls` is given: SNI and name check by host name,
    /// by the connected IP when `host` is one); `adopt` the channel on the loop once connected.
    public func connect(host: String, port: Int, tls: NIOSSLContext?) -> EventLoopFuture<any Channel> {
        let serverHostname = (try? SocketAddress(ipAddress: host, port: 0)) != nil ? nil : host
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.connectTimeout)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverHostname)) }
                    try pipeline.addHandler(UpstreamExchangeHandler())
                }
            }
            .connect(host: host, port: port)
    }

    /// The connection object of a channel `connect` made; call on the loop.
    public func adopt(_ channel: any Channel, generation: Int) throws -> UpstreamConnection {
        let connection = UpstreamConnection(channel: channel, exchange: try channel.pipeline.syncOperations.handler(type: UpstreamExchangeHandler.self),
                                            generation: generation)
        connection.exchange.onIdleClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.remove(connection)
        }
        return connection
    }
}

/// One keep-alive connection to an apiserver and the handler that hands its responses on.
public final class UpstreamConnection {
    public let channel: any Channel
    public let exchange: UpstreamExchangeHandler
    public let generation: Int
    /// When it last went back to the pool.
    var idleSince = NIODeadline.uptimeNanoseconds(0)

    init(channel: any Channel, exchange: UpstreamExchangeHandler, generation: Int) {
        self.channel = channel
        self.exchange = exchange
        self.generation = generation
    }

    /// Sends a request without a body and asks for the answer in parts (its body as payload).
    ///
    /// A target or field with a control byte (CR, LF, NUL…) could end the head early and smuggle
    /// a second request: such a request is not sent, and the connection closes (`upstreamClosed`).
    public func send(_ head: HTTPRequestHead, to receiver: any UpstreamResponseReceiver) {
        send(method: head.method.rawValue, target: head.uri, fields: head.headers, to: receiver)
    }

    /// `send(_:to:)` for a head given as its parts, when the caller has no NIO head at hand (the
    /// agent, whose requests arrive as HTTP/2 header blocks).
    public func send<Fields: Sequence>(method: String, target: String, fields: Fields, to receiver: any UpstreamResponseReceiver)
    where Fields.Element == (name: String, value: String) {
        var bytes = channel.allocator.buffer(capacity: 256)
        var safe = !method.isEmpty && Self.isFieldText(method, allowSpace: false) && Self.isFieldText(target, allowSpace: false)
        bytes.writeString(method)
        bytes.writeStaticString(" ")
        bytes.writeString(target)
        bytes.writeStaticString(" HTTP/1.1\r\n")
        for (name, value) in fields {
            safe = safe && !name.isEmpty && Self.isFieldText(name, allowSpace: false) && Self.isFieldText(value, allowSpace: true)
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("\r\n")
        guard safe else {
            exchange.refuse(receiver)
            return
        }
        exchange.begin(receiver, head: bytes, mode: .payload, toHEAD: method == "HEAD")
    }

    /// No control bytes (a tab only where spaces are allowed), no DEL.
    private static func isFieldText(_ text: String, allowSpace: Bool) -> Bool {
        text.utf8.allSatisfy { byte in byte > 0x20 ? byte != 0x7F : allowSpace && (byte == 0x20 || byte == 0x09) }
    }

    /// Sends a request head already in HTTP/1.1 wire form, for a request without a body and not
    /// `HEAD`, and asks for the answer as wire bytes (`upstreamWireHead`, then the body's bytes
    /// as they arrive).
    public func send(wireHead: ByteBuffer, to receiver: any UpstreamResponseReceiver) {
        exchange.begin(receiver, head: wireHead, mode: .wire, toHEAD: false)
    }
}
