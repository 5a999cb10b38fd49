import BCSUserManager

/// Every registered cluster's actor, fed by the user-manager's credential changes.
actor ClusterRegistry {
    private var actors: [String: ClusterActor] = [:]
    /// Each cluster's direct route, for the proxy's event-loop fast path.
    nonisolated let routes = DirectRoutes()

    func apply(_ change: CredentialChange) async {
        switch change {
        case .updated(let credentials):
            if let actor = actors[credentials.clusterID] {
                await actor.update(credentials)
            } else {
                let actor = ClusterActor(credentials: credentials, routes: routes)
                actors[credentials.clusterID] = actor
                await actor.publishRoute()
            }
        case .removed(let id):
            await actors.removeValue(forKey: id)?.shutdown()
        }
    }

    func actor(for clusterID: String) -> ClusterActor? { actors[clusterID] }

    var count: Int { actors.count }

    var all: [ClusterActor] { Array(actors.values) }

    func shutdown() async {
        for actor in actors.values { await actor.shutdown() }
        actors = [:]
    }
}
