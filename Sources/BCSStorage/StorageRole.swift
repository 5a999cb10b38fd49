import BCSCore
import BCSMongo
import Hummingbird
import Logging

/// The storage role: events, dynamic resources and alarms in MongoDB behind `/bcsstorage/v1`.
public struct StorageRole: RoleModule {
    public var role: Role { .storage }

    /// Settings this role adds to `bcs serve` (bcs-storage's `event_max_day` and friends).
    public static let settings: [SettingSpec] = [
        SettingSpec("event-max-day", default: "15", "Days events are kept (by their createTime)."),
        SettingSpec("event-max-cap", default: "10000", "Most events kept per cluster; the oldest beyond it are deleted."),
        SettingSpec("alarm-max-day", default: "15", "Days alarms are kept."),
        SettingSpec("alarm-max-cap", default: "10000", "Most alarms kept per cluster."),
        SettingSpec("retention-interval", default: "3600", "Seconds between retention passes."),
    ]

    let events: MongoEventStore
    let resources: MongoDynamicResourceStore
    let alarms: MongoAlarmStore
    let limits = StorageLimits()
    let eventRetention: (days: Int, cap: Int)
    let alarmRetention: (days: Int, cap: Int)
    let retentionInterval: Duration
    let database: MongoDatabase
    let logger: Logger

    public init(context: RoleContext) throws {
        func positive(_ key: String) throws -> Int {
            let raw = context.settings.string(key, default: Self.settings.first { $0.key == key }!.defaultValue!)
            guard let v = Int(raw), v > 0 else { throw ConfigurationError("--\(key) must be a positive integer, not \"\(raw)\"") }
            return v
        }
        database = context.database
        events = MongoEventStore(collection: context.database.collection(MongoEventStore.collectionName))
        resources = MongoDynamicResourceStore(collection: context.database.collection(MongoDynamicResourceStore.collectionName))
        alarms = MongoAlarmStore(collection: context.database.collection(MongoAlarmStore.collectionName))
        eventRetention = (try positive("event-max-day"), try positive("event-max-cap"))
        alarmRetention = (try positive("alarm-max-day"), try positive("alarm-max-cap"))
        retentionInterval = .seconds(try positive("retention-interval"))
        logger = context.logger
    }

    public func addRoutes(to router: Router<BCSRequestContext>) {
        let group = router.group("bcsstorage/v1").add(middleware: BCSErrorMiddleware(
            badRequestCode: StorageCode.unmarshalFailed, internalCode: StorageCode.getFailed, unavailableCode: StorageCode.notReady
        ))
        EventController(store: events, limits: limits).addRoutes(to: group)
        DynamicResourceController(store: resources, limits: limits).addRoutes(to: group)
        AlarmController(store: alarms, limits: limits).addRoutes(to: group)
        group.addUnknownPathFallback(code: StorageCode.notExist)
    }

    public var backgroundServices: [BackgroundService] {
        let indexes: [(MongoCollection, [IndexModel])] = [
            (events.collection, MongoEventStore.indexes),
            (resources.collection, MongoDynamicResourceStore.indexes),
            (alarms.collection, MongoAlarmStore.indexes),
        ]
        let policies = [
            RetentionPolicy(collection: events.collection, timeField: "eventTime", maxDays: eventRetention.days, maxPerCluster: eventRetention.cap),
            RetentionPolicy(collection: alarms.collection, timeField: "receivedTime", maxDays: alarmRetention.days, maxPerCluster: alarmRetention.cap),
        ]
        let (logger, interval, database) = (self.logger, retentionInterval, self.database)
        return [
            BackgroundService(name: "storage-indexes", role: Role.storage.rawValue) { StorageIndexBootstrap(collections: indexes, logger: logger) },
            BackgroundService(name: "storage-retention", role: Role.storage.rawValue) { 
                RetentionJob(policies: policies, interval: interval, lease: MongoLease(database: database, name: "storage-retention"),
                             runs: database.collection(RetentionJob.runsCollection), logger: logger)
            },
        ]
    }
}
