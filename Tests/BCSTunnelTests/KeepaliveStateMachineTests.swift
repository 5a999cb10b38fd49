import NIOCore
import Testing

@testable import BCSTunnel

/// Pings on each tick, RTT from the ACK, and a silent peer closed at the deadline.
@Suite struct KeepaliveStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func ticksPingWithTheSendTime() {
        var machine = KeepaliveStateMachine(keepalive: .standard, now: start)
        let now = start + .seconds(5)
        #expect(machine.tick(at: now) == .ping(now.uptimeNanoseconds))
        #expect(machine.roundTrip(ackPayload: now.uptimeNanoseconds, at: now + .milliseconds(12)) == .milliseconds(12))
    }

    @Test func aSilentPeerIsClosedAtFifteenSecondsNotBefore() {
        var machine = KeepaliveStateMachine(keepalive: .standard, now: start)
        #expect(machine.tick(at: start + .seconds(5)) != .close(silentFor: .seconds(5)))
        #expect(machine.tick(at: start + .seconds(6)) == .none, "one PING per interval although ticks come every second")
        #expect(machine.tick(at: start + .seconds(10)) == .ping((start + .seconds(10)).uptimeNanoseconds))
        #expect(machine.tick(at: start + .milliseconds(14_999)) == .none)
        #expect(machine.tick(at: start + .seconds(15)) == .close(silentFor: .seconds(15)))
        #expect(machine.tick(at: start + .seconds(20)) == .none, "closed once")
    }

    @Test func anyByteReadKeepsThePeerAlive() {
        var machine = KeepaliveStateMachine(keepalive: .standard, now: start)
        machine.bytesRead(at: start + .seconds(14))
        #expect(machine.tick(at: start + .seconds(15)) == .ping((start + .seconds(15)).uptimeNanoseconds))
        #expect(machine.tick(at: start + .seconds(29)) == .close(silentFor: .seconds(15)))
    }

    @Test func ticksComeEverySecondAtMost() {
        #expect(KeepaliveStateMachine(keepalive: .standard, now: start).checkInterval == .seconds(1))
        #expect(KeepaliveStateMachine(keepalive: TunnelKeepalive(interval: .milliseconds(200), deadAfter: .seconds(1)), now: start).checkInterval == .milliseconds(200))
    }

    @Test func foreignPingPayloadsGiveNoRoundTrip() {
        let machine = KeepaliveStateMachine(keepalive: .standard, now: start)
        #expect(machine.roundTrip(ackPayload: (start + .seconds(1)).uptimeNanoseconds, at: start) == nil, "from the future")
        #expect(machine.roundTrip(ackPayload: 0, at: start + .seconds(3600)) == nil, "far too old")
    }
}
