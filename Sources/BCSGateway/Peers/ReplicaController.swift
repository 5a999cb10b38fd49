import BCSCore
import BCSUserManager
import Hummingbird

/// This gateway replica as its peers see it: which tunnels it holds, the replicas it knows, what it forwarded.
struct ReplicaView: Sendable, Encodable {
    let replica: String
    let peer_url: String?
    let owned_tunnel_clusters: Int
    let peers: Int
    let forwarded_to_peers: Int
    let received_from_peers: Int

    init(directory: TunnelDirectory, peers: PeerLinks) {
        replica = directory.replica
        peer_url = directory.peerURL
        owned_tunnel_clusters = directory.ownedCount
        self.peers = directory.peerCount
        forwarded_to_peers = peers.forwardedTotal
        received_from_peers = peers.receivedTotal
    }

    /// The line `/readyz` shows.
    var line: String {
        "gateway replica \(replica): \(owned_tunnel_clusters) tunnel clusters owned, \(peers) peers, "
            + "\(forwarded_to_peers) requests forwarded to peers, \(received_from_peers) received from peers"
    }
}

/// `GET /gateway/v1/replica`: this replica's view, for a reader of every cluster (BCS envelope).
struct ReplicaController: Sendable {
    let directory: TunnelDirectory
    let peers: PeerLinks
    let access: AccessControl?

    func addRoutes(to router: Router<BCSRequestContext>) {
        router.get("gateway/v1/replica") { request, _ -> Response in
            try await ClusterStatusController.requireReaderOfAllClusters(request, access: access)
            return bcsSuccess(ReplicaView(directory: directory, peers: peers))
        }
    }
}
