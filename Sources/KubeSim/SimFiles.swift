import Foundation

/// The files a client needs to reach the simulator: a kubeconfig, or a pod's in-cluster layout.
enum SimFiles {
    static func kubeconfig(server: String, caPEM: String, token: String, clusterName: String) -> String {
        let ca = Data(caPEM.utf8).base64EncodedString()
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: \(clusterName)
              cluster:
                server: \(server)
                certificate-authority-data: \(ca)
            users:
            - name: \(clusterName)-admin
              user:
                token: \(token)
            contexts:
            - name: \(clusterName)
              context:
                cluster: \(clusterName)
                user: \(clusterName)-admin
                namespace: default
            current-context: \(clusterName)

            """
    }

    static func writeKubeconfig(to path: String, server: String, caPEM: String, token: String, clusterName: String) throws {
        try write(kubeconfig(server: server, caPEM: caPEM, token: token, clusterName: clusterName), to: path, mode: 0o600)
    }

    /// `token`, `ca.crt`, `namespace` (as /var/run/secrets/kubernetes.io/serviceaccount holds them)
    /// and `env` with `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` lines.
    static func writeInCluster(to directory: String, host: String, port: Int, caPEM: String, token: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try write(token, to: directory + "/token", mode: 0o600)
        try write(caPEM, to: directory + "/ca.crt", mode: 0o644)
        try write("default", to: directory + "/namespace", mode: 0o644)
        try write("KUBERNETES_SERVICE_HOST=\(host)\nKUBERNETES_SERVICE_PORT=\(port)\nKUBERNETES_SERVICE_PORT_HTTPS=\(port)\n", to: directory + "/env", mode: 0o644)
    }

    private static func write(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }
}
