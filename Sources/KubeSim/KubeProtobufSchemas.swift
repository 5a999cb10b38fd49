/// The protobuf field numbers of the kinds kubectl creates imperatively, from k8s.io/api's `generated.proto`.
///
/// Only what `kubectl create namespace|configmap|secret|deployment|service|serviceaccount` can set
/// is listed; unknown field numbers are skipped, as a newer client's extra fields would be.
enum KubeProtobufSchemas {
    /// How a field's wire value becomes JSON.
    indirect enum ValueType: Sendable {
        case string, bytes, int, bool
        case message([Int: Field])
        /// `map<string, V>`: repeated entries with key 1 and value 2.
        case map(ValueType)
        /// `intstr.IntOrString`: type 1 (0 int, 1 string), intVal 2, strVal 3.
        case intOrString
        /// `resource.Quantity`: its string form in field 1.
        case quantity
    }

    /// One field of a message: its JSON name and type.
    struct Field: Sendable {
        let name: String
        let type: ValueType
        var repeated = false
        /// A pointer in Go: an explicit zero or `false` is meaningful and kept.
        var keepsZero = false

        init(_ name: String, _ type: ValueType, repeated: Bool = false, keepsZero: Bool = false) {
            self.name = name
            self.type = type
            self.repeated = repeated
            self.keepsZero = keepsZero
        }
    }

    static let objectMeta: [Int: Field] = [
        1: .init("name", .string), 2: .init("generateName", .string), 3: .init("namespace", .string),
        11: .init("labels", .map(.string)), 12: .init("annotations", .map(.string)), 14: .init("finalizers", .string, repeated: true),
    ]
    static let labelSelector: [Int: Field] = [
        1: .init("matchLabels", .map(.string)),
        2: .init("matchExpressions", .message([1: .init("key", .string), 2: .init("operator", .string), 3: .init("values", .string, repeated: true)]), repeated: true),
    ]
    static let container: [Int: Field] = [
        1: .init("name", .string), 2: .init("image", .string),
        3: .init("command", .string, repeated: true), 4: .init("args", .string, repeated: true), 5: .init("workingDir", .string),
        6: .init("ports", .message([1: .init("name", .string), 2: .init("hostPort", .int), 3: .init("containerPort", .int),
                                    4: .init("protocol", .string), 5: .init("hostIP", .string)]), repeated: true),
        7: .init("env", .message([1: .init("name", .string), 2: .init("value", .string)]), repeated: true),
        8: .init("resources", .message([1: .init("limits", .map(.quantity)), 2: .init("requests", .map(.quantity))])),
        13: .init("terminationMessagePath", .string), 14: .init("imagePullPolicy", .string),
        16: .init("stdin", .bool), 17: .init("stdinOnce", .bool), 18: .init("tty", .bool), 20: .init("terminationMessagePolicy", .string),
    ]
    static let podSpec: [Int: Field] = [
        2: .init("containers", .message(container), repeated: true), 3: .init("restartPolicy", .string),
        4: .init("terminationGracePeriodSeconds", .int, keepsZero: true), 6: .init("dnsPolicy", .string),
        7: .init("nodeSelector", .map(.string)), 8: .init("serviceAccountName", .string), 10: .init("nodeName", .string),
        20: .init("initContainers", .message(container), repeated: true),
    ]
    static let deployment: [Int: Field] = [
        1: .init("metadata", .message(objectMeta)),
        2: .init("spec", .message([
            1: .init("replicas", .int, keepsZero: true),
            2: .init("selector", .message(labelSelector)),
            3: .init("template", .message([1: .init("metadata", .message(objectMeta)), 2: .init("spec", .message(podSpec))])),
            4: .init("strategy", .message([1: .init("type", .string),
                                           2: .init("rollingUpdate", .message([1: .init("maxUnavailable", .intOrString), 2: .init("maxSurge", .intOrString)]))])),
            5: .init("minReadySeconds", .int), 6: .init("revisionHistoryLimit", .int, keepsZero: true), 7: .init("paused", .bool),
            9: .init("progressDeadlineSeconds", .int, keepsZero: true),
        ])),
    ]
    static let service: [Int: Field] = [
        1: .init("metadata", .message(objectMeta)),
        2: .init("spec", .message([
            1: .init("ports", .message([1: .init("name", .string), 2: .init("protocol", .string), 3: .init("port", .int),
                                        4: .init("targetPort", .intOrString), 5: .init("nodePort", .int), 6: .init("appProtocol", .string)]), repeated: true),
            2: .init("selector", .map(.string)), 3: .init("clusterIP", .string), 4: .init("type", .string),
            5: .init("externalIPs", .string, repeated: true), 7: .init("sessionAffinity", .string), 10: .init("externalName", .string),
            18: .init("clusterIPs", .string, repeated: true),
        ])),
    ]
    static let kinds: [String: [Int: Field]] = [
        "Namespace": [1: .init("metadata", .message(objectMeta)), 2: .init("spec", .message([1: .init("finalizers", .string, repeated: true)]))],
        "ConfigMap": [1: .init("metadata", .message(objectMeta)), 2: .init("data", .map(.string)), 3: .init("binaryData", .map(.bytes)),
                      4: .init("immutable", .bool, keepsZero: true)],
        "Secret": [1: .init("metadata", .message(objectMeta)), 2: .init("data", .map(.bytes)), 3: .init("type", .string),
                   4: .init("stringData", .map(.string)), 5: .init("immutable", .bool, keepsZero: true)],
        "ServiceAccount": [1: .init("metadata", .message(objectMeta)),
                           2: .init("secrets", .message([1: .init("kind", .string), 2: .init("namespace", .string), 3: .init("name", .string)]), repeated: true),
                           3: .init("imagePullSecrets", .message([1: .init("name", .string)]), repeated: true),
                           4: .init("automountServiceAccountToken", .bool, keepsZero: true)],
        "Deployment": deployment,
        "Service": service,
    ]
}
