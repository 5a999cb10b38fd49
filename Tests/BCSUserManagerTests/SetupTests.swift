import BCSCore
import BCSMongo
import BCSTestSupport
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Testing

@testable import BCSUserManager

@Suite("start-up: indexes, seeded roles, bootstrap admin, MongoDB outages")
struct SetupTests {
    @Test func indexesAndRolesAreCreatedIdempotently() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.role.setup.setUp()  // a second start changes nothing and does not fail
        let userIndexes = try await h.database.collection("users").listIndexes()
        #expect(userIndexes.contains { $0["unique"]?.boolValue == true || $0["unique"]?.intValue == 1 }, "\(userIndexes)")
        let grantIndexes = try await h.database.collection("permissions").listIndexes()
        #expect(grantIndexes.count >= 3, "\(grantIndexes)")
        #expect(try await h.database.collection("cluster_credentials").listIndexes().count >= 3)
        #expect(try await h.services.permissions.role(name: "manager")?.actions == "GET,POST,PUT,PATCH,DELETE")
        #expect(try await h.services.permissions.role(name: "viewer")?.actions == "GET")
        #expect(try await h.database.collection("roles").count() == 2)
        #expect(try await h.database.collection("users").count() == 1, "the bootstrap admin, once")
    }

    @Test func bootstrapUpdatesTheAdminsTokenAndRefusesANameOfAnotherType() async throws {
        let database = try TestMongo.freshDatabase()
        let first = try await UMHarness.make(database: database)
        defer { Task { await first.cleanUp() } }
        let newToken = "NewAdminToken-0123456789abcdefXYZ"
        let second = try await UMHarness.make(database: database, extra: ["bootstrap-admin": "admin:\(newToken)"])
        try await second.run { api in
            #expect(try await api.createUser("plain", "p1", token: UMHarness.adminToken).status == 401, "the old bootstrap token is replaced")
            #expect(try await api.createUser("plain", "p2", token: newToken).status == 200)
            let admin = try await api.call(.get, "/usermanager/v1/users/admin/admin", token: newToken)
            #expect(admin.data["id"] as? Int == 1 && admin.data["user_token"] as? String == newToken, "same user, new token: \(admin)")
        }
        do {
            _ = try await UMHarness.make(database: database, extra: ["bootstrap-admin": "p2:Another-Token-0123456789abcdef"])
            Issue.record("a plain user's name was taken over as an admin")
        } catch let error as UserManagerSetup.BootstrapConflict {
            #expect(error.message.contains("exists as a plain user"))
        }
    }

    /// Until start-up work is done every route answers 503; while MongoDB is down start-up waits, then finishes.
    @Test func routesWaitFor503UntilSetUpAndSetupOutlastsAMongoOutage() async throws {
        let nx = try NXServer()
        let client = try MongoClient(uri: MongoURI(nx.uri(options: "serverSelectionTimeoutMS=300&connectTimeoutMS=200")), threads: 2)
        let database = client.database("um_outage")
        let context = RoleContext(mongo: client, database: database,
                                  settings: LayeredSettings(flags: ["secret-key": UMHarness.secret, "bootstrap-admin": "admin:\(UMHarness.adminToken)"], environment: [:]),
                                  logger: Logger(label: "test.outage"))
        let role = try UserManagerRole(context: context)
        let group = ServiceGroup(configuration: .init(services: [role.setup], logger: Logger(label: "test.outage")))
        let running = Task { try await group.run() }
        let harness = UMHarness(role: role, database: database, context: context)
        try await harness.run { api in
            let early = try await api.createUser("plain", "early")
            #expect(early.status == 503 && early.code == 1405050 && early.message.contains("starting"), "\(early)")
        }
        try await Task.sleep(for: .seconds(1))
        #expect(!role.setupState.isReady, "still waiting for MongoDB")
        try await nx.start()
        try await eventually(timeout: .seconds(20)) { role.setupState.isReady }
        try await harness.run { api in
            let late = try await api.createUser("plain", "late")
            #expect(late.status == 200, "\(late)")
        }
        await group.triggerGracefulShutdown()
        _ = await running.result
        await client.shutdown()
        await nx.kill()
    }

    /// MongoDB going away after start-up: requests get 503 (retry later), then work again.
    @Test func aMongoOutageAnswers503ThenRecovers() async throws {
        let nx = try NXServer()
        try await nx.start()
        let client = try MongoClient(uri: MongoURI(nx.uri(options: "serverSelectionTimeoutMS=300&connectTimeoutMS=200&socketTimeoutMS=1000")), threads: 2)
        let h = try await UMHarness.make(database: client.database("um_outage2"))
        try await h.run { api in
            #expect(try await api.createUser("plain", "before").status == 200)
            await nx.kill()
            let during = try await api.createUser("plain", "during")
            #expect(during.status == 503 && during.code == 1405050 && during.message.contains("database unavailable"), "\(during)")
            let token = "x"
            let report = try await api.report("C1", token: token)
            #expect(report.status == 400 || report.status == 503, "\(report)")
            try await nx.start()
            try await eventually(timeout: .seconds(20)) { try await api.createUser("plain", "after").status == 200 }
        }
        await client.shutdown()
        await nx.kill()
    }
}
