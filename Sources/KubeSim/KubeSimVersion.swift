/// The Kubernetes version the simulator reports on `/version`.
///
/// kubectl only warns on skew, so one fixed version inside kubectl's supported range is enough.
public enum KubeSimVersion {
    public static let major = "1"
    public static let minor = "30"
    public static let gitVersion = "v1.30.0-bcs-kube-sim"
}
