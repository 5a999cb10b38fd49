import Foundation
import Yams

extension KubeConnection {
    /// Where Kubernetes mounts a pod's service-account token, CA and namespace.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// A kubeconfig if one is given, otherwise the in-cluster layout.
    ///
    /// `BCS_SERVICEACCOUNT_DIR` in `environment` replaces the service-account directory; tests and
    /// the demo use it to run a component "in-cluster" against `bcs kube-sim --incluster-dir`.
    public static func load(kubeconfig: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConnection {
        if let kubeconfig, !kubeconfig.isEmpty {
            return try fromKubeconfig(path: kubeconfig)
        }
        return try inCluster(environment: environment)
    }

    /// The pod's own apiserver: `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, `token`, `ca.crt`, `namespace`.
    public static func inCluster(environment: [String: String]) throws -> KubeConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubeConnectionError("not running in a cluster (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset) and no --kubeconfig given")
        }
        let directory = environment["BCS_SERVICEACCOUNT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? serviceAccountDirectory
        let caPath = directory + "/ca.crt"
        guard let ca = try? String(contentsOfFile: caPath, encoding: .utf8) else {
            throw KubeConnectionError("cannot read the service-account CA \(caPath)")
        }
        let tokenPath = directory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubeConnectionError("cannot read the service-account token \(tokenPath)")
        }
        let namespace = (try? String(contentsOfFile: directory + "/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return KubeConnection(server: "https://\(hostPart):\(port)", caPEM: ca, token: .file(tokenPath), namespace: namespace)
    }

    /// The current context of a kubeconfig file: server, CA, token or client certificate, namespace.
    public static func fromKubeconfig(path: String) throws -> KubeConnection {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KubeConnectionError("cannot read the kubeconfig \(path)")
        }
        return try fromKubeconfig(text: text, relativeTo: (path as NSString).deletingLastPathComponent)
    }

    static func fromKubeconfig(text: String, relativeTo directory: String) throws -> KubeConnection {
        let root: [String: Any]
        do {
            guard let parsed = try Yams.load(yaml: text) as? [String: Any] else { throw KubeConnectionError("the kubeconfig is not a YAML mapping") }
            root = parsed
        } catch let error as KubeConnectionError {
            throw error
        } catch {
            throw KubeConnectionError("the kubeconfig is not valid YAML: \(error)")
        }
        func named(_ list: String, _ name: String?) -> [String: Any]? {
            let items = root[list] as? [[String: Any]] ?? []
            let item = name.flatMap { wanted in items.first { $0["name"] as? String == wanted } } ?? (name == nil ? items.first : nil)
            return item
        }
        let contextName = root["current-context"] as? String
        let context = named("contexts", contextName)?["context"] as? [String: Any]
        guard let cluster = named("clusters", context?["cluster"] as? String)?["cluster"] as? [String: Any] else {
            throw KubeConnectionError("the kubeconfig has no cluster for its current context")
        }
        guard let server = cluster["server"] as? String, !server.isEmpty else {
            throw KubeConnectionError("the kubeconfig's cluster has no server")
        }
        let user = named("users", context?["user"] as? String)?["user"] as? [String: Any] ?? [:]
        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : directory + "/" + file }
        func pem(data key: String, file fileKey: String, in map: [String: Any]) throws -> String? {
            if let encoded = map[key] as? String {
                guard let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8) else {
                    throw KubeConnectionError("the kubeconfig's \(key) is not base64 PEM")
                }
                return text
            }
            if let file = map[fileKey] as? String {
                guard let text = try? String(contentsOfFile: resolve(file), encoding: .utf8) else {
                    throw KubeConnectionError("cannot read \(fileKey) \(file) named in the kubeconfig")
                }
                return text
            }
            return nil
        }
        let token: TokenSource
        if let value = user["token"] as? String, !value.isEmpty {
            token = .literal(value)
        } else if let file = user["tokenFile"] as? String, !file.isEmpty {
            token = .file(resolve(file))
        } else {
            token = .none
        }
        return KubeConnection(
            server: server,
            caPEM: try pem(data: "certificate-authority-data", file: "certificate-authority", in: cluster),
            insecureSkipVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
            token: token,
            clientCertificatePEM: try pem(data: "client-certificate-data", file: "client-certificate", in: user),
            clientKeyPEM: try pem(data: "client-key-data", file: "client-key", in: user),
            namespace: context?["namespace"] as? String
        )
    }
}
