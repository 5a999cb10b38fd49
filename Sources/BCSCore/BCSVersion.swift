/// The product's version, printed by `bcs version` and exported as `bcs_build_info`.
public enum BCSVersion {
    public static let current = "0.1.0"
    /// The BCS release whose APIs this implementation follows.
    public static let compatibleBCS = "1.19.x"
}
