import BCSKube

/// Tells a Node update that only moved heartbeat timestamps from one worth storing.
///
/// Kubelets renew every node's status every 10–60 s; the original watcher stored each renewal
/// until issue #220 filtered them. Two versions are equivalent when they differ only in
/// `metadata.resourceVersion`, `metadata.managedFields` and the conditions' `lastHeartbeatTime`
/// (any number of conditions, unlike the original's fixed five).
public enum NodeHeartbeat {
    public static func onlyHeartbeatChanged(old: JSONValue, new: JSONValue) -> Bool {
        significant(old) == significant(new)
    }

    static func significant(_ node: JSONValue) -> JSONValue {
        guard case .object(var root) = node else { return node }
        if case .object(var metadata)? = root["metadata"] {
            metadata["resourceVersion"] = nil
            metadata["managedFields"] = nil
            root["metadata"] = .object(metadata)
        }
        if case .object(var status)? = root["status"], case .array(let conditions)? = status["conditions"] {
            status["conditions"] = .array(conditions.map { condition in
                guard case .object(var fields) = condition else { return condition }
                fields["lastHeartbeatTime"] = nil
                return .object(fields)
            })
            root["status"] = .object(status)
        }
        return .object(root)
    }
}
