import BCSCore
import NIOCore
import NIOPosix

/// Checks at start-up that the listen address can be bound, so "port in use" is one clear line
/// before any service starts, not an error surfacing from deep inside the server.
enum ListenCheck {
    static func verify(_ address: ListenAddress) async throws {
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port)
                .get()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ConfigurationError("cannot listen on \(address): address already in use")
        } catch let error as IOError where error.errnoCode == EACCES {
            throw ConfigurationError("cannot listen on \(address): permission denied")
        } catch {
            throw ConfigurationError("cannot listen on \(address): \(error)")
        }
        try? await channel.close()
    }
}
