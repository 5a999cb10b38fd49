import BCSTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Every kind of bad input gets a 4xx in the BCS envelope, a message naming the problem, and
/// stores nothing.
@Suite("storage: bad input")
struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let method: HTTPMethod
        let path: String
        let body: String?
        let status: Int
        let code: Int
        let message: String
        var description: String { name }
    }

    static let valid = #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":1700000000,"data":{"metadata":{"uid":"u"}}}"#
    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString().addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }

    static let cases: [Case] = [
        Case(name: "malformed JSON", method: .PUT, path: "/events", body: "{\"clusterId\":", status: 400, code: 1405080, message: "not valid JSON"),
        Case(name: "empty body", method: .PUT, path: "/events", body: "", status: 400, code: 1405080, message: "empty"),
        Case(name: "body not an object", method: .PUT, path: "/events", body: "[1,2]", status: 400, code: 1405080, message: "must be a JSON object"),
        Case(name: "missing clusterId", method: .PUT, path: "/events", body: #"{"env":"k8s","kind":"Pod","eventTime":1}"#, status: 400, code: 1405080, message: "field 'clusterId' is required"),
        Case(name: "missing eventTime", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod"}"#, status: 400, code: 1405080, message: "field 'eventTime' is required"),
        Case(name: "eventTime wrong type", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":"yesterday"}"#, status: 400, code: 1405080, message: "field 'eventTime' must be unix seconds"),
        Case(name: "negative eventTime", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":-5}"#, status: 400, code: 1405080, message: "eventTime"),
        Case(name: "kind wrong type", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":7,"eventTime":1}"#, status: 400, code: 1405080, message: "field 'kind' must be a string"),
        Case(name: "extraInfo wrong type", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":1,"extraInfo":"x"}"#, status: 400, code: 1405080, message: "field 'extraInfo' must be an object"),
        Case(name: "data not an object", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":1,"data":[1]}"#, status: 400, code: 1405080, message: "field 'data' must be an object"),
        Case(name: "$ key in data", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":1,"data":{"metadata":{"$where":"1"}}}"#, status: 400, code: 1405080, message: "'data.metadata.$where' starts with '$'"),
        Case(name: "body over the limit", method: .PUT, path: "/events", body: #"{"clusterId":"C","env":"k8s","kind":"Pod","eventTime":1,"describe":""# + String(repeating: "x", count: 1_100_000) + #""}"#, status: 413, code: 1405080, message: "limit"),
        Case(name: "batch over 1000", method: .POST, path: "/events/batch", body: "[" + Array(repeating: valid, count: 1001).joined(separator: ",") + "]", status: 413, code: 1405080, message: "at most 1000 events"),
        Case(name: "batch with one bad event", method: .POST, path: "/events/batch", body: "[\(valid),{\"clusterId\":\"C\"}]", status: 400, code: 1405080, message: "events[1]: field 'env' is required"),
        Case(name: "batch not a list", method: .POST, path: "/events/batch", body: #"{"items":[]}"#, status: 400, code: 1405080, message: "JSON array of events"),
        Case(name: "empty batch", method: .POST, path: "/events/batch", body: "[]", status: 400, code: 1405080, message: "empty"),
        Case(name: "bad base64 in extra", method: .GET, path: "/events?extra=%25%25%25", body: nil, status: 400, code: 1405086, message: "extra is not valid base64"),
        Case(name: "extra not an object", method: .GET, path: "/events?extra=" + b64("[1]"), body: nil, status: 400, code: 1405080, message: "base64 of a JSON object"),
        Case(name: "operator in extra value", method: .GET, path: "/events?extra=" + b64(#"{"kind":{"$ne":"x"}}"#), body: nil, status: 400, code: 1405080, message: "'kind' must be a scalar"),
        Case(name: "$ key in extra", method: .GET, path: "/events?extra=" + b64(#"{"$where":"sleep(1000)"}"#), body: nil, status: 400, code: 1405080, message: "starts with '$'"),
        Case(name: "$ key in extra_contain", method: .GET, path: "/events?extra_contain=" + b64(#"{"$or":"x"}"#), body: nil, status: 400, code: 1405080, message: "starts with '$'"),
        Case(name: "bad base64 in extra_contain", method: .GET, path: "/events?extra_contain=***", body: nil, status: 400, code: 1405086, message: "not valid base64"),
        Case(name: "timeBegin after timeEnd", method: .GET, path: "/events?timeBegin=20&timeEnd=10", body: nil, status: 400, code: 1405080, message: "timeBegin (20) is after timeEnd (10)"),
        Case(name: "timeBegin not a number", method: .GET, path: "/events?timeBegin=soon", body: nil, status: 400, code: 1405080, message: "timeBegin must be unix seconds"),
        Case(name: "negative offset", method: .GET, path: "/events?offset=-1", body: nil, status: 400, code: 1405080, message: "offset must not be negative"),
        Case(name: "length over the maximum", method: .GET, path: "/events?length=100000", body: nil, status: 400, code: 1405080, message: "length must be at most 1000"),
        Case(name: "$ field in projection", method: .GET, path: "/events?field=%24where", body: nil, status: 400, code: 1405080, message: "starts with '$'"),
        Case(name: "bad characters in projection", method: .GET, path: "/events?field=a%20b", body: nil, status: 400, code: 1405080, message: "invalid character"),
        Case(name: "resource without data", method: .PUT, path: "/k8s/dynamic/cluster_resources/clusters/C/Node/n1", body: #"{"spec":{}}"#, status: 400, code: 1405082, message: "field 'data' is required"),
        Case(name: "resource data not an object", method: .PUT, path: "/k8s/dynamic/cluster_resources/clusters/C/Node/n1", body: #"{"data":"x"}"#, status: 400, code: 1405082, message: "field 'data' is required and must be an object"),
        Case(name: "resource with $ key", method: .PUT, path: "/k8s/dynamic/cluster_resources/clusters/C/Node/n1", body: #"{"data":{"$set":{}}}"#, status: 400, code: 1405080, message: "starts with '$'"),
        Case(name: "bad label selector", method: .GET, path: "/k8s/dynamic/all_resources/clusters/C/Pod?labelSelector=app%20in%20(a", body: nil, status: 400, code: 1405080, message: "labelSelector"),
        Case(name: "label selector with $", method: .GET, path: "/k8s/dynamic/all_resources/clusters/C/Pod?labelSelector=%24where%3D1", body: nil, status: 400, code: 1405080, message: "invalid label key"),
        Case(name: "negative limit", method: .GET, path: "/k8s/dynamic/all_resources/clusters/C/Pod?limit=-3", body: nil, status: 400, code: 1405080, message: "limit must not be negative"),
        Case(name: "batch delete with bad window", method: .DELETE, path: "/k8s/dynamic/all_resources/clusters/C/Pod", body: #"{"updateTimeBegin":"x"}"#, status: 400, code: 1405084, message: "updateTimeBegin must be unix seconds"),
        Case(name: "alarm without message", method: .POST, path: "/alarms", body: #"{"clusterId":"C","receivedTime":1}"#, status: 400, code: 1405082, message: "field 'message' is required"),
        Case(name: "unknown route", method: .GET, path: "/evnets", body: nil, status: 404, code: 1405087, message: "no such route: GET /bcsstorage/v1/evnets"),
        Case(name: "unknown nested route", method: .POST, path: "/k8s/dynamic/nothing/here", body: "{}", status: 404, code: 1405087, message: "no such route"),
        Case(name: "alarm with bad time", method: .POST, path: "/alarms", body: #"{"clusterId":"C","message":"m","receivedTime":1.5}"#, status: 400, code: 1405082, message: "receivedTime"),
    ]

    @Test func everyBadInputIsRefusedAndStoresNothing() async throws {
        let storage = try await StorageFixture.start()
        for bad in Self.cases {
            let r = try await storage.send(bad.method, bad.path, body: bad.body)
            #expect(r.status == bad.status, "\(bad.name): status \(r.status) \(r.body.prefix(300))")
            #expect(r.json?["result"] as? Bool == false, "\(bad.name): envelope")
            #expect(r.code == bad.code, "\(bad.name): code in \(r.body.prefix(300))")
            #expect(r.message.contains(bad.message), "\(bad.name): message \(r.message)")
        }
        #expect(try await storage.send(.GET, "/events").total == 0, "no event was stored")
        #expect(try await storage.send(.GET, "/k8s/dynamic/all_resources/clusters/C/Node").total == 0)
        #expect(try await storage.send(.GET, "/alarms").total == 0)
        // The server is still healthy after all of it.
        #expect(try await storage.send(.PUT, "/events", body: Self.valid).status == 200)
        await storage.stop()
    }
}
