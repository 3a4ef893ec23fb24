// The IoT policy engine: AWS IoT Core policy documents compiled once and
// evaluated, as pure functions, against a request (an action on a resource,
// by a connected client). No I/O and no storage: the broker and the control
// plane look up which policies apply to a principal and ask here.
//
// The rules, as the AWS IoT Core developer guide ("AWS IoT Core policies",
// "AWS IoT Core policy variables", "Publish/Subscribe policy examples") and
// the IAM user guide it defers to ("IAM JSON policy elements", "Policy
// evaluation logic", "Condition operators", "Variables and tags") state them:
//
// The document
//   A policy is a JSON object with an optional `Version` ("2012-10-17" or
//   "2008-10-17"; IAM's default when it is missing is 2008-10-17), an optional
//   `Id`, and a `Statement`: one statement object or a non-empty list of them.
//   A statement has an optional `Sid`, an `Effect` ("Allow" or "Deny", spelled
//   exactly so), exactly one of `Action`/`NotAction`, exactly one of
//   `Resource`/`NotResource` (each a string or a non-empty list of strings),
//   and an optional `Condition`. Actions are "*" or "service:name"
//   ("iot:Publish", "iot:*"); resources are "*" or ARNs
//   ("arn:aws:iot:us-east-1:123456789012:topic/sensors/dev1"). `Principal` has
//   no place in an IoT policy (it is attached to its principal instead), and
//   any element this engine does not know is refused rather than ignored: an
//   ignored typo ("Resorce") would silently widen or narrow access. AWS limits
//   a document to 2,048 characters not counting white space; so do we.
//
// Evaluation order (IAM's "policy evaluation logic")
//   All policies attached to the principal are evaluated together. A request
//   is an action ("iot:Publish") on a resource (the full ARN of the topic,
//   topic filter, client or thing). A statement applies when its action part,
//   its resource part and all its conditions match. Then:
//     1. if any applying statement in any policy says Deny: EXPLICIT_DENY;
//     2. otherwise, if any applying statement says Allow: ALLOWED;
//     3. otherwise: IMPLICIT_DENY (everything is denied by default).
//   Statement and policy order never matter. `NotAction`/`NotResource` apply
//   to every action/resource the list does not match.
//
// Wildcards
//   In actions and resources `*` matches any run of characters (including
//   none, including '/' and ':') and `?` matches exactly one character. MQTT's
//   `+` and `#` are ordinary characters in a policy ("Using wildcard
//   characters in MQTT and AWS IoT Core policies"): to allow subscribing to
//   "sensors/+/temp" a policy names the topic filter ARN
//   "...:topicfilter/sensors/+/temp" or a `*` pattern over it. Actions match
//   case-insensitively (IAM action names are not case-sensitive); resources
//   match case-sensitively.
//
// Policy variables ("AWS IoT Core policy variables", "Thing policy
// variables", "X.509 Certificate AWS IoT Core policy variables")
//   Under Version 2012-10-17, `${name}` in a Resource or in a string or ARN
//   condition value is replaced by a value from the request:
//     ${iot:ClientId}                              the MQTT client id
//     ${iot:Connection.Thing.ThingName}            the thing whose name is the
//     ${iot:Connection.Thing.ThingTypeName}          client id and which is
//     ${iot:Connection.Thing.Attributes[name]}       attached to the presented
//     ${iot:Connection.Thing.IsAttached}             certificate; "true"/"false"
//     ${iot:Certificate.<field>}                   e.g. Subject.CommonName,
//                                                  Issuer.Organization, SerialNumber
//     ${aws:SourceIp}
//   and `${*}`, `${?}`, `${$}` stand for a literal '*', '?' and '$'. Under
//   2008-10-17 (or with no Version) `${...}` is literal text, as in IAM.
//   Variable and key names are matched without regard to case; the attribute
//   name and certificate field inside them are taken as written.
//   Substituted text is always literal: a client id of "*" or "dev?" matches
//   only a resource containing exactly "*" or "dev?", never acts as a
//   wildcard. A certificate field whose value holds one of * $ + ? # or is
//   longer than 1,024 characters is not substituted (the guide's certificate
//   variable limitations), so a CN of "+" cannot widen a topic filter.
//   A variable that does not resolve (no attached thing, no such attribute,
//   no such certificate field, a name we do not know) makes the value using
//   it unable to make its statement apply: in Resource or a positive
//   condition it matches nothing; in NotResource or a negated condition
//   ("StringNotEquals") it makes that element fail. So an Allow built on an
//   unresolved variable grants nothing and a Deny built on one denies
//   nothing. IsAttached always resolves: "false" when no thing is attached.
//
// Conditions ("IAM JSON policy elements: Condition operators")
//   "Condition": { operator: { key: value-or-list, ... }, ... }. Every
//   operator block must hold, and within a block every key must hold (AND);
//   the values listed for one key are alternatives (OR). A negated operator
//   (StringNotEquals, StringNotLike, ArnNot..., NumericNotEquals,
//   DateNotEquals, NotIpAddress) holds when the key matches none of the
//   values. Operators:
//     StringEquals / StringNotEquals / ...IgnoreCase   exact (ASCII case folding)
//     StringLike / StringNotLike                       * and ? wildcards
//     ArnEquals / ArnLike / ArnNotEquals / ArnNotLike  wildcards, matched per
//                                                      colon-separated ARN field
//     NumericEquals/NotEquals/LessThan[Equals]/GreaterThan[Equals]
//     DateEquals/NotEquals/LessThan[Equals]/GreaterThan[Equals]
//                                  values ISO 8601 ("2026-01-01",
//                                  "2026-01-01T12:00:00Z", offsets, fractions)
//                                  or epoch seconds
//     Bool                         "true"/"false"
//     IpAddress / NotIpAddress     IPv4 and IPv6 addresses and CIDR ranges
//     Null                         "true": the key is absent; "false": present
//   Any operator but Null takes the `IfExists` suffix (holds when the key is
//   absent) and the `ForAnyValue:`/`ForAllValues:` prefixes; every key here
//   has one value, so they only change what an absent key means (ForAnyValue:
//   false, ForAllValues: true). Without them an absent key fails a positive
//   operator and satisfies a negated one. Keys: iot:ClientId,
//   iot:Connection.Thing.ThingName/ThingTypeName/IsAttached/Attributes[name],
//   iot:Certificate.<field>, aws:SourceIp, aws:CurrentTime, aws:EpochTime,
//   aws:SecureTransport; any other "prefix:name" key is accepted and is
//   always absent. Values that cannot be read (a date, number, address or
//   boolean that does not parse) make the document malformed.
//
// Cost: compile() once per document version; evaluate() then reads the
// context by reference and matches in place. It allocates nothing unless a
// pattern has 16 or more pieces (literal runs, wildcards, variables) or a
// string condition reads aws:CurrentTime (formatted once per evaluation).
// Thread safety: a compiled_policy is immutable; share it between threads.
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace airfleet::policy {

enum class errc {
  malformed = 1,  // the document breaks the policy language; the message says where
                  // (MalformedPolicyException, 400, at the AWS surface)
};
std::error_code make_error_code(errc e);

enum class decision { allowed, explicit_deny, implicit_deny };
// "ALLOWED", "EXPLICIT_DENY", "IMPLICIT_DENY"
std::string_view to_string(decision d);

// The thing whose name equals the client id and which is attached to the
// presented certificate.
struct thing_info {
  std::string name;
  std::optional<std::string> type_name;
  std::map<std::string, std::string> attributes;
};

struct request_context {
  std::string client_id;  // empty: iot:ClientId is absent (a request without MQTT session)
  std::optional<thing_info> thing;  // nullopt: thing variables do not resolve
  // Keys as they follow "iot:Certificate." in a variable name:
  // "Subject.CommonName", "Issuer.Organization", "SerialNumber", ...
  std::map<std::string, std::string> certificate;
  std::optional<std::string> source_ip;  // IpAddress/NotIpAddress, ${aws:SourceIp}
  core::time_point now{};                 // Date operators, aws:CurrentTime, aws:EpochTime
  bool secure_transport = true;           // aws:SecureTransport
};

// A policy document checked and compiled for evaluation. Immutable.
class compiled_policy;

// Limits a document must stay within.
inline constexpr std::size_t max_policy_characters = 2048;  // not counting white space (AWS's quota)
inline constexpr std::size_t max_document_bytes = 65536;     // white space included
inline constexpr int max_nesting_depth = 8;                  // valid documents need 6

// Parses and validates a policy document (the JSON text as the client sent
// it). errc::malformed, with a message that says where, when it is not valid.
core::result<std::shared_ptr<const compiled_policy>> compile(std::string_view document);

// Evaluates `action` ("iot:Publish") on `resource` (a full ARN) against all
// `policies` together: an explicit Deny anywhere wins, otherwise any Allow,
// otherwise implicit deny. Null entries are skipped.
decision evaluate(std::span<const compiled_policy* const> policies, std::string_view action,
                  std::string_view resource, const request_context& ctx);

// The same, also telling which policy (index into `policies`) decided: the
// first one with an applying Deny, or else the first with an applying Allow;
// -1 for an implicit deny.
struct evaluation {
  decision result;
  int deciding_policy = -1;
};
evaluation evaluate_detailed(std::span<const compiled_policy* const> policies, std::string_view action,
                             std::string_view resource, const request_context& ctx);

// One policy on its own: explicit_deny if one of its statements denies,
// allowed if one allows (and none denies), implicit_deny otherwise. For
// listing every allowing or denying policy (TestAuthorization).
decision evaluate_one(const compiled_policy& policy, std::string_view action, std::string_view resource,
                      const request_context& ctx);

}  // namespace airfleet::policy

template <>
struct std::is_error_code_enum<airfleet::policy::errc> : std::true_type {};
