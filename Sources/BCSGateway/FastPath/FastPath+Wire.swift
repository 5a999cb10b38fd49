import BCSKube
import BCSTunnel
import HTTPTypes
import NIOCore

extension FastPath {
    /// The plan for a request head read off an HTTP/1.1 connection by `HTTP1WireLane`, with the
    /// apiserver's request head written as bytes: the client's field lines copied as they came,
    /// less the ones the ordinary path drops, plus `Host`, the cluster's `Authorization` and the
    /// identity. Bound for an agent tunnel, it becomes the stream's header block as on the parsed
    /// path. Nil when the request must take the parsed path (which then decides again): not a
    /// plain GET, an unknown decision, and so on.
    func wirePlan(_ head: HTTP1Head, allocator: ByteBufferAllocator, loop: any EventLoop) -> Plan? {
        guard authorises, head.equalsIgnoringCase(head.third, "http/1.1"),
              head.first.count == 3, head.string(head.first) == "GET"
        else { return nil }
        guard let target = Self.target(head.string(head.second)) else { return nil }
        var authorization: Range<Int>?
        var impersonating = false
        for field in head.fields {
            let name = field.name
            switch name.count {
            case 13 where head.equalsIgnoringCase(name, "authorization"):
                guard authorization == nil else { return nil }
                authorization = field.value
            case 14 where head.equalsIgnoringCase(name, "content-length"):
                guard head.decimal(field.value) == 0 else { return nil }
            case 17 where head.equalsIgnoringCase(name, "transfer-encoding"), 7 where head.equalsIgnoringCase(name, "upgrade"),
                6 where head.equalsIgnoringCase(name, "expect"):
                return nil
            case 10 where head.equalsIgnoringCase(name, "connection"):
                if head.listContains(field.value, "close") || head.listContains(field.value, "upgrade") { return nil }
            default:
                if Self.peerSecretField.contains(head, name) { return nil }  // a peer hop: the parsed path checks it
                if head.hasPrefixIgnoringCase(name, "impersonate-") { impersonating = true }
            }
        }
        guard let authorization,
              let (caller, verb) = allowedCaller(authorization: head.string(authorization), target: target, impersonating: impersonating)
        else { return nil }
        // A live agent tunnel wins, as on the parsed path, whose header rules build the block.
        if let session = tunnels.session(for: target.clusterID, near: loop) {
            var fields = HTTPFields()
            fields.reserveCapacity(head.fields.count)
            for field in head.fields {
                guard let name = HTTPField.Name(head.string(field.name)) else { return nil }
                fields.append(HTTPField(name: name, value: head.string(field.value)))
            }
            let identity = KubeProxy.identityHeaders(of: caller, from: fields, impersonate: impersonate)
            let request = KubeProxy.tunnelRequest(.get, path: target.upstreamURI, headers: fields, identity: identity, upgrade: false)
            return Plan(target: .tunnel(session, TunnelHeaders.requestBlock(request, upgrade: nil)), clusterID: target.clusterID,
                        subPath: target.subPath, user: caller.user, verb: verb, routeName: target.routeName, started: .now)
        }
        guard let route = directRoute(target.clusterID) else { return nil }

        var bytes = allocator.buffer(capacity: head.bytes.readableBytes + 128)
        bytes.writeStaticString("GET ")
        bytes.writeString(target.upstreamURI)
        bytes.writeStaticString(" HTTP/1.1\r\nHost: ")
        bytes.writeString(route.address.hostHeader)
        bytes.writeStaticString("\r\n")
        for field in head.fields where !Self.isDroppedField(head, field.name, admin: caller.admin) {
            let line = head.line(of: field)
            bytes.writeImmutableBuffer(head.bytes.getSlice(at: head.bytes.readerIndex + line.lowerBound, length: line.count)!)
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("Authorization: ")
        bytes.writeString(route.authorization)
        bytes.writeStaticString("\r\n")
        if !caller.admin, impersonate {
            for (name, value) in KubeProxy.identityHeaders(of: caller, from: [:], impersonate: true) {
                bytes.writeString("\(name): \(value)\r\n")
            }
        }
        bytes.writeStaticString("\r\n")
        return Plan(target: .direct(route, .wire(bytes)), clusterID: target.clusterID, subPath: target.subPath, user: caller.user, verb: verb,
                    routeName: target.routeName, started: .now)
    }

    /// `KubeProxy.droppedRequestHeaders`, looked up on bytes; an admin's own `Impersonate-*`
    /// fields pass (the parsed path drops and re-adds them).
    private static let droppedFields = HeaderNameSet(KubeProxy.droppedRequestHeaders)
    private static let droppedFieldsForAdmins = HeaderNameSet(KubeProxy.droppedRequestHeaders.filter { !$0.hasPrefix("impersonate-") })

    private static let peerSecretField = HeaderNameSet([PeerLinks.secretHeader])

    private static func isDroppedField(_ head: HTTP1Head, _ name: Range<Int>, admin: Bool) -> Bool {
        (admin ? droppedFieldsForAdmins : droppedFields).contains(head, name)
    }
}
