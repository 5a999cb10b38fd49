/// Capped exponential backoff with jitter.
///
/// Jitter spreads restarts of many processes (or many cluster actors) that failed together, so they
/// do not retry in lockstep against the same dependency.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Fraction of the delay that is randomised, 0…1: a delay `d` becomes one in `d·(1−jitter) … d`.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30), multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = max(multiplier, 1)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before retry number `attempt` (1-based), given a uniform random number in 0…1.
    public func delay(attempt: Int, random: Double) -> Duration {
        let exponent = Double(max(attempt, 1) - 1)
        let initialSeconds = initial.seconds
        let capped = min(initialSeconds * pow(multiplier, min(exponent, 64)), maximum.seconds)
        let jittered = capped * (1 - jitter * min(max(random, 0), 1))
        return .milliseconds(Int64((jittered * 1000).rounded()))
    }

    public func delay(attempt: Int) -> Duration {
        delay(attempt: attempt, random: Double.random(in: 0...1))
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

import Foundation
