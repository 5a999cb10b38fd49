import Testing

@testable import BCSTunnel

/// When the agent opens another session and when it retires one, from stream counters alone.
@Suite("session scaler")
struct SessionScalerTests {
    typealias S = SessionScaler.Sample
    let scaling = TunnelScaling(maxSessions: 3, streamsPerSecond: 100, idleAfter: .seconds(10), interval: .seconds(1))
    let start = ContinuousClock.now

    @Test func opensOneMoreOnlyAboveTheRatePerSessionAndUpToTheMost() {
        var scaler = SessionScaler(scaling: scaling)
        #expect(scaler.decide([S(id: 0, opened: 0, isFirst: true, isDraining: false)], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start) == [])
        // 100 streams in a second is the limit, not above it.
        #expect(scaler.decide([S(id: 0, opened: 100, isFirst: true, isDraining: false)], connecting: 0, mayOpen: true,
                              elapsed: .seconds(1), now: start + .seconds(1)) == [])
        #expect(scaler.decide([S(id: 0, opened: 201, isFirst: true, isDraining: false)], connecting: 0, mayOpen: true,
                              elapsed: .seconds(1), now: start + .seconds(2)) == [.open])
        // One being dialled counts: 150/s over two is not above 100 each.
        #expect(scaler.decide([S(id: 0, opened: 351, isFirst: true, isDraining: false)], connecting: 1, mayOpen: true,
                              elapsed: .seconds(1), now: start + .seconds(3)) == [])
        // Rates are per second: 150 streams in half a second is 300/s, above 2 × 100.
        let two = [S(id: 0, opened: 451, isFirst: true, isDraining: false), S(id: 1, opened: 50, isFirst: false, isDraining: false)]
        #expect(scaler.decide(two, connecting: 0, mayOpen: true, elapsed: .milliseconds(500), now: start + .milliseconds(3500)) == [.open])
        // Not after a failed dial's wait, and never beyond the most.
        let moreTwo = [S(id: 0, opened: 951, isFirst: true, isDraining: false), S(id: 1, opened: 550, isFirst: false, isDraining: false)]
        #expect(scaler.decide(moreTwo, connecting: 0, mayOpen: false, elapsed: .seconds(1), now: start + .seconds(5)) == [])
        let three = [S(id: 0, opened: 2000, isFirst: true, isDraining: false), S(id: 1, opened: 1600, isFirst: false, isDraining: false),
                     S(id: 2, opened: 1000, isFirst: false, isDraining: false)]
        #expect(scaler.decide(three, connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(6)) == [])
    }

    @Test func retiresAnIdleExtraOnlyWhenTheOthersWouldNotAskForIt() {
        var scaler = SessionScaler(scaling: scaling)
        var first = S(id: 0, opened: 0, isFirst: true, isDraining: false)
        let extra = S(id: 7, opened: 40, isFirst: false, isDraining: false)
        #expect(scaler.decide([first, extra], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start) == [])
        // The extra gets nothing for 10 s while the first is busy at 150/s, more than one session's 100: kept.
        for second in 1...10 {
            first.opened += 150
            #expect(scaler.decide([first, extra], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(second)) == [])
        }
        // The load falls to 50/s: the idle extra is retired, but never the first, idle or not.
        first.opened += 50
        #expect(scaler.decide([first, extra], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(11)) == [.retire(id: 7)])
        var draining = extra
        draining.isDraining = true
        #expect(scaler.decide([first, draining], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(30)) == [])
    }

    @Test func aSessionThatKeepsGettingStreamsIsKeptAndANewIDStartsAfresh() {
        var scaler = SessionScaler(scaling: scaling)
        let first = S(id: 0, opened: 0, isFirst: true, isDraining: false)
        var extra = S(id: 1, opened: 0, isFirst: false, isDraining: false)
        for second in 0...30 {
            extra.opened += 1
            #expect(scaler.decide([first, extra], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(second)) == [])
        }
        // A reconnected session (a new ID) with a counter lower than its predecessor's is not idle
        // from the start, and a dropped one is forgotten.
        let fresh = S(id: 2, opened: 3, isFirst: false, isDraining: false)
        #expect(scaler.decide([first, fresh], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(31)) == [])
        #expect(scaler.decide([first, fresh], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(40)) == [])
        #expect(scaler.decide([first, fresh], connecting: 0, mayOpen: true, elapsed: .seconds(1), now: start + .seconds(41)) == [.retire(id: 2)])
    }
}
