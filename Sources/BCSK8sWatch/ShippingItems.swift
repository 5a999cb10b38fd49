import BCSKube
import Foundation

/// An Event mapped to BCS's body, waiting to be shipped, with when it last happened (for the lag metric).
public struct QueuedEvent: Sendable {
    public var body: JSONValue
    public var happened: Date

    public init(body: JSONValue, happened: Date) {
        self.body = body
        self.happened = happened
    }
}

/// A change to one object for the dynamic-resource routes: store this version, or remove it.
public struct ResourceChange: Sendable {
    public enum Action: Sendable {
        case put(JSONValue)
        case delete
    }

    public var resource: KubeResource
    public var namespace: String
    public var name: String
    public var action: Action

    public init(resource: KubeResource, namespace: String, name: String, action: Action) {
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.action = action
    }

    /// The queue key: one entry per object.
    public var key: String { "\(resource.kind)/\(namespace)/\(name)" }
}
