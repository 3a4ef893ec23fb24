#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace airfleet::policy {
namespace {

constexpr std::string_view arn_prefix = "arn:aws:iot:us-east-1:123456789012:";

std::string topic(std::string_view name) { return std::string(arn_prefix) + "topic/" + std::string(name); }
std::string topic_filter(std::string_view f) { return std::string(arn_prefix) + "topicfilter/" + std::string(f); }
std::string client(std::string_view id) { return std::string(arn_prefix) + "client/" + std::string(id); }

// A device whose thing (named like its client id) is attached to its certificate.
request_context device(std::string client_id) {
  request_context ctx;
  ctx.client_id = client_id;
  ctx.thing = thing_info{client_id, std::nullopt, {}};
  ctx.source_ip = "203.0.113.10";
  ctx.now = std::chrono::sys_days{std::chrono::year{2026} / 6 / 15} + std::chrono::hours{12};
  return ctx;
}

// The same client with no thing attached: thing variables do not resolve.
request_context unattached(std::string client_id) {
  request_context ctx = device(std::move(client_id));
  ctx.thing.reset();
  return ctx;
}

template <class Change>
request_context with(request_context ctx, Change change) {
  change(ctx);
  return ctx;
}

// {"Version":"2012-10-17","Statement":[...]} around the given statements.
std::string policy(std::string_view statements) {
  return R"({"Version":"2012-10-17","Statement":[)" + std::string(statements) + "]}";
}

const std::string allow_all = policy(R"({"Effect":"Allow","Action":"*","Resource":"*"})");

// The AWS IoT jobs recipe's device policy.
const std::string recipe = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},{"Effect":"Allow","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*","arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]}]})";

// A policy allowing iot:Publish on `resource` when `condition` holds.
std::string publish_if(std::string_view resource, std::string_view condition) {
  return policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + std::string(resource) +
                R"(","Condition":)" + std::string(condition) + "}");
}

struct decision_case {
  std::string name;
  std::vector<std::string> documents;
  std::string action;
  std::string resource;
  request_context ctx;
  decision expected;
  int deciding_policy = -2;  // -2: not checked
};

std::ostream& operator<<(std::ostream& os, const decision_case& c) { return os << c.name; }

std::vector<decision_case> decision_cases() {
  const std::string any_topic = topic("*");
  std::vector<decision_case> cases = {
      // The recipe: a device may use only its own jobs topics and connect only as itself.
      {"recipe_publishes_to_its_own_jobs_topic", {recipe}, "iot:Publish", topic("$aws/things/IoTDevice-abc-1/jobs/get"),
       device("IoTDevice-abc-1"), decision::allowed, 0},
      {"recipe_does_not_publish_to_another_things_jobs_topic", {recipe}, "iot:Publish",
       topic("$aws/things/IoTDevice-abc-2/jobs/get"), device("IoTDevice-abc-1"), decision::implicit_deny, -1},
      {"recipe_connects_as_itself", {recipe}, "iot:Connect", client("IoTDevice-abc-1"), device("IoTDevice-abc-1"),
       decision::allowed, 0},
      {"recipe_does_not_connect_as_another_client", {recipe}, "iot:Connect", client("other"),
       device("IoTDevice-abc-1"), decision::implicit_deny, -1},
      {"recipe_subscribes_to_its_jobs_topic_filter", {recipe}, "iot:Subscribe",
       topic_filter("$aws/things/IoTDevice-abc-1/jobs/notify-next"), device("IoTDevice-abc-1"), decision::allowed},
      {"recipe_does_not_allow_an_unlisted_action", {recipe}, "iot:UpdateThingShadow",
       topic("$aws/things/IoTDevice-abc-1/jobs/get"), device("IoTDevice-abc-1"), decision::implicit_deny},
      {"recipe_grants_no_connect_when_the_thing_is_not_attached", {recipe}, "iot:Connect", client("IoTDevice-abc-1"),
       unattached("IoTDevice-abc-1"), decision::implicit_deny},
      {"recipe_grants_no_publish_when_the_thing_is_not_attached", {recipe}, "iot:Publish",
       topic("$aws/things/IoTDevice-abc-1/jobs/get"), unattached("IoTDevice-abc-1"), decision::implicit_deny},

      // Evaluation order across policies.
      {"explicit_deny_in_one_policy_beats_allow_in_another",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","Resource":")" + topic("secret/*") + R"("})")},
       "iot:Publish", topic("secret/plans"), device("dev1"), decision::explicit_deny, 1},
      {"deny_elsewhere_leaves_the_allow_standing",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","Resource":")" + topic("secret/*") + R"("})")},
       "iot:Publish", topic("public/news"), device("dev1"), decision::allowed, 0},
      {"deny_of_another_action_leaves_the_allow_standing",
       {policy(R"({"Effect":"Deny","Action":"iot:Subscribe","Resource":"*"})"), allow_all}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed, 1},
      {"deny_in_the_same_policy_beats_allow",
       {policy(R"({"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Effect":"Deny","Action":"iot:Connect","Resource":")" +
               client("admin") + R"("})")},
       "iot:Connect", client("admin"), device("admin"), decision::explicit_deny, 0},
      {"nothing_applies_is_an_implicit_deny",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("a") + R"("})")}, "iot:Publish",
       topic("b"), device("dev1"), decision::implicit_deny, -1},
      {"no_policies_is_an_implicit_deny", {}, "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny, -1},

      // NotAction and NotResource.
      {"not_action_applies_to_other_actions",
       {policy(R"({"Effect":"Allow","NotAction":"iot:Publish","Resource":"*"})")}, "iot:Subscribe",
       topic_filter("a"), device("dev1"), decision::allowed},
      {"not_action_does_not_apply_to_the_listed_action",
       {policy(R"({"Effect":"Allow","NotAction":["iot:Publish","iot:Connect"],"Resource":"*"})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::implicit_deny},
      {"deny_not_resource_blocks_everything_outside",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","NotResource":")" + topic("safe/*") + R"("})")},
       "iot:Publish", topic("elsewhere"), device("dev1"), decision::explicit_deny, 1},
      {"deny_not_resource_spares_what_it_lists",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","NotResource":")" + topic("safe/*") + R"("})")},
       "iot:Publish", topic("safe/x"), device("dev1"), decision::allowed, 0},

      // Wildcards.
      {"star_spans_topic_levels", {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("sensors/*") + R"("})")},
       "iot:Publish", topic("sensors/a/b/c"), device("dev1"), decision::allowed},
      {"star_matches_nothing_too", {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("sensors/*") + R"("})")},
       "iot:Publish", topic("sensors/"), device("dev1"), decision::allowed},
      {"star_in_the_middle_and_in_the_region",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:123456789012:topic/a/*/c"})")},
       "iot:Publish", topic("a/b/x/c"), device("dev1"), decision::allowed},
      {"question_mark_is_one_character", {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("dev?") + R"("})")},
       "iot:Publish", topic("dev1"), device("dev1"), decision::allowed},
      {"question_mark_is_not_two_characters",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("dev?") + R"("})")}, "iot:Publish",
       topic("dev12"), device("dev1"), decision::implicit_deny},
      {"question_mark_is_one_multibyte_character",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("caf?") + R"("})")}, "iot:Publish",
       topic("caf\xc3\xa9"), device("dev1"), decision::allowed},
      {"mqtt_plus_is_a_plain_character_in_a_policy",
       {policy(R"({"Effect":"Allow","Action":"iot:Subscribe","Resource":")" + topic_filter("sensors/+/temp") + R"("})")},
       "iot:Subscribe", topic_filter("sensors/+/temp"), device("dev1"), decision::allowed},
      {"mqtt_plus_does_not_match_a_level",
       {policy(R"({"Effect":"Allow","Action":"iot:Subscribe","Resource":")" + topic_filter("sensors/+/temp") + R"("})")},
       "iot:Subscribe", topic_filter("sensors/room1/temp"), device("dev1"), decision::implicit_deny},
      {"resources_match_case_sensitively",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("Sensors/*") + R"("})")},
       "iot:Publish", topic("sensors/a"), device("dev1"), decision::implicit_deny},
      {"actions_match_case_insensitively",
       {policy(R"({"Effect":"Allow","Action":"IOT:publish","Resource":"*"})")}, "iot:Publish", topic("a"),
       device("dev1"), decision::allowed},
      {"action_wildcard_covers_the_service", {policy(R"({"Effect":"Allow","Action":"iot:*","Resource":"*"})")},
       "iot:Receive", topic("a"), device("dev1"), decision::allowed},
      {"action_prefix_wildcard_stops_at_its_prefix",
       {policy(R"({"Effect":"Allow","Action":"iot:Pub*","Resource":"*"})")}, "iot:Subscribe", topic_filter("a"),
       device("dev1"), decision::implicit_deny},
      {"action_question_mark", {policy(R"({"Effect":"Allow","Action":"iot:?eceive","Resource":"*"})")},
       "iot:Receive", topic("a"), device("dev1"), decision::allowed},

      // Variables.
      {"client_id_variable_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}/data") + R"("})")},
       "iot:Publish", topic("clients/dev1/data"), device("dev1"), decision::allowed},
      {"client_id_variable_is_only_that_client",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}/data") + R"("})")},
       "iot:Publish", topic("clients/dev2/data"), device("dev1"), decision::implicit_deny},
      {"star_in_a_client_id_is_not_a_wildcard",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}/data") + R"("})")},
       "iot:Publish", topic("clients/dev1/data"), unattached("*"), decision::implicit_deny},
      {"star_in_a_client_id_matches_a_literal_star",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}/data") + R"("})")},
       "iot:Publish", topic("clients/*/data"), unattached("*"), decision::allowed},
      {"question_mark_in_a_client_id_is_not_a_wildcard",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}") + R"("})")},
       "iot:Publish", topic("clients/devX"), unattached("dev?"), decision::implicit_deny},
      {"empty_client_id_does_not_resolve",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("clients/${iot:ClientId}") + R"("})")},
       "iot:Publish", topic("clients/"), unattached(""), decision::implicit_deny},
      {"thing_type_variable_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("types/${iot:Connection.Thing.ThingTypeName}/*") + R"("})")},
       "iot:Publish", topic("types/sensor/x"),
       with(device("dev1"), [](request_context& c) { c.thing->type_name = "sensor"; }), decision::allowed},
      {"thing_type_variable_without_a_type_grants_nothing",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("types/${iot:Connection.Thing.ThingTypeName}/*") + R"("})")},
       "iot:Publish", topic("types//x"), device("dev1"), decision::implicit_deny},
      {"attribute_variable_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("sites/${iot:Connection.Thing.Attributes[site]}/*") + R"("})")},
       "iot:Publish", topic("sites/berlin/temp"),
       with(device("dev1"), [](request_context& c) { c.thing->attributes["site"] = "berlin"; }), decision::allowed},
      {"attribute_variable_is_that_attributes_value_only",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("sites/${iot:Connection.Thing.Attributes[site]}/*") + R"("})")},
       "iot:Publish", topic("sites/paris/temp"),
       with(device("dev1"), [](request_context& c) { c.thing->attributes["site"] = "berlin"; }),
       decision::implicit_deny},
      {"missing_attribute_grants_nothing",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("sites/${iot:Connection.Thing.Attributes[site]}/*") + R"("})")},
       "iot:Publish", topic("sites/berlin/temp"), device("dev1"), decision::implicit_deny},
      {"certificate_variable_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("cn/${iot:Certificate.Subject.CommonName}") + R"("})")},
       "iot:Publish", topic("cn/dev1.example.com"),
       with(device("dev1"), [](request_context& c) { c.certificate["Subject.CommonName"] = "dev1.example.com"; }),
       decision::allowed},
      {"missing_certificate_field_grants_nothing",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("org/${iot:Certificate.Subject.Organization}") + R"("})")},
       "iot:Publish", topic("org/"), device("dev1"), decision::implicit_deny},
      {"certificate_field_with_a_wildcard_is_not_substituted",
       {policy(R"({"Effect":"Allow","Action":"iot:Subscribe","Resource":")" +
               topic_filter("cn/${iot:Certificate.Subject.CommonName}") + R"("})")},
       "iot:Subscribe", topic_filter("cn/+"),
       with(device("dev1"), [](request_context& c) { c.certificate["Subject.CommonName"] = "+"; }),
       decision::implicit_deny},
      {"is_attached_variable_resolves_to_true",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("attached/${iot:Connection.Thing.IsAttached}") + R"("})")},
       "iot:Publish", topic("attached/true"), device("dev1"), decision::allowed},
      {"is_attached_variable_resolves_to_false",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" +
               topic("attached/${iot:Connection.Thing.IsAttached}") + R"("})")},
       "iot:Publish", topic("attached/false"), unattached("dev1"), decision::allowed},
      {"source_ip_variable_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("ip/${aws:SourceIp}") + R"("})")},
       "iot:Publish", topic("ip/203.0.113.10"), device("dev1"), decision::allowed},
      {"unknown_variable_never_resolves",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("d/${iot:DomainName}") + R"("})")},
       "iot:Publish", topic("d/"), device("dev1"), decision::implicit_deny},
      {"variable_names_ignore_case",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("c/${IOT:clientid}") + R"("})")},
       "iot:Publish", topic("c/dev1"), device("dev1"), decision::allowed},
      {"escapes_stand_for_literal_characters",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("e/${*}/${?}/${$}") + R"("})")},
       "iot:Publish", topic("e/*/?/$"), device("dev1"), decision::allowed},
      {"escaped_star_is_not_a_wildcard",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("e/${*}") + R"("})")},
       "iot:Publish", topic("e/anything"), device("dev1"), decision::implicit_deny},
      {"unresolved_variable_in_a_deny_denies_nothing",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","Resource":")" +
                          topic("${iot:Connection.Thing.ThingName}/*") + R"("})")},
       "iot:Publish", topic("dev1/x"), unattached("dev1"), decision::allowed, 0},
      {"resolved_variable_in_a_deny_denies",
       {allow_all, policy(R"({"Effect":"Deny","Action":"iot:Publish","Resource":")" +
                          topic("${iot:Connection.Thing.ThingName}/*") + R"("})")},
       "iot:Publish", topic("dev1/x"), device("dev1"), decision::explicit_deny, 1},
      {"unresolved_variable_in_not_resource_grants_nothing",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","NotResource":")" +
               topic("${iot:Connection.Thing.ThingName}/private") + R"("})")},
       "iot:Publish", topic("other/private"), unattached("dev1"), decision::implicit_deny},
      {"resolved_variable_in_not_resource_excludes_it",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","NotResource":")" +
               topic("${iot:Connection.Thing.ThingName}/private") + R"("})")},
       "iot:Publish", topic("dev1/private"), device("dev1"), decision::implicit_deny},
      {"resolved_variable_in_not_resource_allows_the_rest",
       {policy(R"({"Effect":"Allow","Action":"iot:Publish","NotResource":")" +
               topic("${iot:Connection.Thing.ThingName}/private") + R"("})")},
       "iot:Publish", topic("other/private"), device("dev1"), decision::allowed},
      {"variables_are_literal_text_under_version_2008",
       {R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":")" +
        topic("c/${iot:ClientId}") + R"("}})"},
       "iot:Publish", topic("c/dev1"), device("dev1"), decision::implicit_deny},
      {"version_2008_matches_the_variable_text_itself",
       {R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":")" +
        topic("c/${iot:ClientId}") + R"("}})"},
       "iot:Publish", topic("c/${iot:ClientId}"), device("dev1"), decision::allowed},
      {"missing_version_means_2008",
       {R"({"Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic("c/${iot:ClientId}") + R"("}})"},
       "iot:Publish", topic("c/dev1"), device("dev1"), decision::implicit_deny},

      // Conditions: strings.
      {"string_equals_holds", {publish_if(any_topic, R"({"StringEquals":{"iot:ClientId":"dev1"}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed},
      {"string_equals_fails", {publish_if(any_topic, R"({"StringEquals":{"iot:ClientId":"dev1"}})")}, "iot:Publish",
       topic("a"), device("dev2"), decision::implicit_deny},
      {"string_equals_is_case_sensitive", {publish_if(any_topic, R"({"StringEquals":{"iot:ClientId":"DEV1"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"string_equals_takes_star_literally", {publish_if(any_topic, R"({"StringEquals":{"iot:ClientId":"dev*"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"string_equals_ignore_case_holds",
       {publish_if(any_topic, R"({"StringEqualsIgnoreCase":{"iot:ClientId":"DEV1"}})")}, "iot:Publish", topic("a"),
       device("dev1"), decision::allowed},
      {"string_not_equals_ignore_case_fails_on_a_case_variant",
       {publish_if(any_topic, R"({"StringNotEqualsIgnoreCase":{"iot:ClientId":"DEV1"}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::implicit_deny},
      {"string_not_equals_holds_for_others",
       {publish_if(any_topic, R"({"StringNotEquals":{"iot:ClientId":["admin","root"]}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed},
      {"string_not_equals_fails_for_any_listed_value",
       {publish_if(any_topic, R"({"StringNotEquals":{"iot:ClientId":["admin","root"]}})")}, "iot:Publish",
       topic("a"), device("root"), decision::implicit_deny},
      {"string_like_matches_wildcards", {publish_if(any_topic, R"({"StringLike":{"iot:ClientId":"sensor-??-*"}})")},
       "iot:Publish", topic("a"), device("sensor-42-kitchen"), decision::allowed},
      {"string_like_fails", {publish_if(any_topic, R"({"StringLike":{"iot:ClientId":"sensor-??-*"}})")},
       "iot:Publish", topic("a"), device("sensor-4-kitchen"), decision::implicit_deny},
      {"string_not_like_excludes_matches",
       {publish_if(any_topic, R"({"StringNotLike":{"iot:ClientId":"test-*"}})")}, "iot:Publish", topic("a"),
       device("test-1"), decision::implicit_deny},
      {"values_of_one_key_are_alternatives",
       {publish_if(any_topic, R"({"StringEquals":{"iot:ClientId":["dev1","dev2"]}})")}, "iot:Publish", topic("a"),
       device("dev2"), decision::allowed},
      {"keys_of_one_operator_must_all_hold",
       {publish_if(any_topic,
                   R"({"StringEquals":{"iot:ClientId":"dev1","iot:Connection.Thing.ThingTypeName":"sensor"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"operators_must_all_hold",
       {publish_if(any_topic,
                   R"({"StringEquals":{"iot:ClientId":"dev1"},"Bool":{"aws:SecureTransport":"true"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.secure_transport = false; }),
       decision::implicit_deny},
      {"condition_value_with_a_variable",
       {publish_if(any_topic, R"({"StringEquals":{"iot:Connection.Thing.ThingName":"${iot:ClientId}"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"condition_attribute_key",
       {publish_if(any_topic, R"({"StringEquals":{"iot:Connection.Thing.Attributes[model]":"m2"}})")}, "iot:Publish",
       topic("a"), with(device("dev1"), [](request_context& c) { c.thing->attributes["model"] = "m2"; }),
       decision::allowed},
      {"condition_certificate_key",
       {publish_if(any_topic, R"({"StringEquals":{"iot:Certificate.Issuer.Organization":"Example Corp"}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.certificate["Issuer.Organization"] = "Example Corp"; }),
       decision::allowed},
      {"unresolved_value_in_a_negated_condition_denies_nothing",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}})")},
       "iot:Publish", topic("a"), unattached("dev1"), decision::allowed, 0},
      {"resolved_value_in_a_negated_condition_denies",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.client_id = "intruder"; }), decision::explicit_deny, 1},

      // Conditions: absent keys, IfExists, set qualifiers, Null.
      {"absent_key_fails_a_positive_operator",
       {publish_if(any_topic, R"({"StringEquals":{"iot:Connection.Thing.ThingTypeName":"sensor"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"absent_key_satisfies_a_negated_operator",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"sensor"}}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::explicit_deny, 1},
      {"if_exists_holds_for_an_absent_key",
       {publish_if(any_topic, R"({"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"sensor"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"if_exists_checks_a_present_key",
       {publish_if(any_topic, R"({"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"sensor"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.thing->type_name = "camera"; }),
       decision::implicit_deny},
      {"for_any_value_fails_for_an_absent_key",
       {publish_if(any_topic, R"({"ForAnyValue:StringLike":{"iot:Certificate.Subject.Country":"*"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"for_all_values_holds_for_an_absent_key",
       {publish_if(any_topic, R"({"ForAllValues:StringEquals":{"iot:Certificate.Subject.Country":"DE"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"for_any_value_checks_a_present_key",
       {publish_if(any_topic, R"({"ForAnyValue:StringEquals":{"iot:Certificate.Subject.Country":["DE","FR"]}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.certificate["Subject.Country"] = "FR"; }), decision::allowed},
      {"null_true_holds_for_an_absent_key",
       {publish_if(any_topic, R"({"Null":{"iot:Connection.Thing.ThingTypeName":"true"}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed},
      {"null_false_requires_the_key",
       {publish_if(any_topic, R"({"Null":{"iot:Connection.Thing.ThingName":false}})")}, "iot:Publish", topic("a"),
       unattached("dev1"), decision::implicit_deny},
      {"unknown_condition_keys_are_absent",
       {publish_if(any_topic, R"({"StringLike":{"iot:DomainName":"*"}})")}, "iot:Publish", topic("a"),
       device("dev1"), decision::implicit_deny},

      // Conditions: ARNs.
      {"arn_like_matches",
       {publish_if(any_topic, R"({"ArnLike":{"iot:Connection.Thing.Attributes[owner]":"arn:aws:iam::*:user/*"}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.thing->attributes["owner"] = "arn:aws:iam::123456789012:user/alice"; }),
       decision::allowed},
      {"arn_like_star_does_not_span_fields",
       {publish_if(any_topic,
                   R"({"ArnLike":{"iot:Connection.Thing.Attributes[owner]":"arn:aws:iot:*:123456789012:thing/t1"}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.thing->attributes["owner"] = "arn:aws:iot:us-east-1:x:123456789012:thing/t1"; }),
       decision::implicit_deny},
      {"arn_not_equals_holds_for_another_arn",
       {publish_if(any_topic, R"({"ArnNotEquals":{"iot:Connection.Thing.Attributes[owner]":"arn:aws:iam::123456789012:user/bob"}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.thing->attributes["owner"] = "arn:aws:iam::123456789012:user/alice"; }),
       decision::allowed},

      // Conditions: numbers, dates, booleans, addresses.
      {"numeric_less_than_holds",
       {publish_if(any_topic, R"({"NumericLessThan":{"iot:Connection.Thing.Attributes[fw]":5}})")}, "iot:Publish",
       topic("a"), with(device("dev1"), [](request_context& c) { c.thing->attributes["fw"] = "3"; }),
       decision::allowed},
      {"numeric_greater_than_equals_fails",
       {publish_if(any_topic, R"({"NumericGreaterThanEquals":{"iot:Connection.Thing.Attributes[fw]":"5.5"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.thing->attributes["fw"] = "5.25"; }),
       decision::implicit_deny},
      {"numeric_on_a_non_number_fails_even_negated",
       {publish_if(any_topic, R"({"NumericNotEquals":{"iot:Connection.Thing.Attributes[fw]":1}})")}, "iot:Publish",
       topic("a"), with(device("dev1"), [](request_context& c) { c.thing->attributes["fw"] = "beta"; }),
       decision::implicit_deny},
      {"numeric_on_epoch_time",
       {publish_if(any_topic, R"({"NumericLessThan":{"aws:EpochTime":1900000000}})")}, "iot:Publish", topic("a"),
       device("dev1"), decision::allowed},
      {"date_less_than_holds_before",
       {publish_if(any_topic, R"({"DateLessThan":{"aws:CurrentTime":"2026-12-31T00:00:00Z"}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed},
      {"date_less_than_fails_after",
       {publish_if(any_topic, R"({"DateLessThan":{"aws:CurrentTime":"2026-01-01"}})")}, "iot:Publish", topic("a"),
       device("dev1"), decision::implicit_deny},
      {"date_greater_than_with_epoch_seconds",
       {publish_if(any_topic, R"({"DateGreaterThan":{"aws:CurrentTime":"1767225600"}})")}, "iot:Publish",
       topic("a"), device("dev1"), decision::allowed},
      {"date_with_an_offset",
       {publish_if(any_topic, R"({"DateGreaterThan":{"aws:CurrentTime":"2026-06-15T13:30:00+02:00"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"date_on_a_certificate_field",
       {publish_if(any_topic, R"({"DateGreaterThan":{"iot:Certificate.Validity.NotAfter":"2026-01-01T00:00:00Z"}})")},
       "iot:Publish", topic("a"),
       with(device("dev1"), [](request_context& c) { c.certificate["Validity.NotAfter"] = "2027-03-01T00:00:00Z"; }),
       decision::allowed},
      {"bool_deny_on_insecure_transport",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.secure_transport = false; }),
       decision::explicit_deny, 1},
      {"bool_deny_spares_secure_transport",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed, 0},
      {"bool_is_attached_allows_an_attached_thing",
       {policy(R"({"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"],"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}})")},
       "iot:Connect", client("dev1"), device("dev1"), decision::allowed},
      {"bool_is_attached_refuses_an_unattached_certificate",
       {policy(R"({"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"],"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}})")},
       "iot:Connect", client("dev1"), unattached("dev1"), decision::implicit_deny},
      {"ip_address_in_range", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"ip_address_out_of_range", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.114.0/24"]}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::implicit_deny},
      {"ip_address_single_host", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":"203.0.113.10"}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::allowed},
      {"ip_address_ipv6_range", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.source_ip = "2001:db8:0:1::7"; }),
       decision::allowed},
      {"ip_address_ipv4_mapped_source", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.source_ip = "::ffff:203.0.113.9"; }),
       decision::allowed},
      {"ip_address_without_a_source_fails", {publish_if(any_topic, R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})")},
       "iot:Publish", topic("a"), with(device("dev1"), [](request_context& c) { c.source_ip.reset(); }),
       decision::implicit_deny},
      {"not_ip_address_denies_outsiders",
       {allow_all, policy(R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}})")},
       "iot:Publish", topic("a"), device("dev1"), decision::explicit_deny, 1},
  };
  return cases;
}

class decisions : public ::testing::TestWithParam<decision_case> {};

TEST_P(decisions, decide) {
  const decision_case& c = GetParam();
  std::vector<std::shared_ptr<const compiled_policy>> compiled;
  std::vector<const compiled_policy*> pointers;
  for (const std::string& document : c.documents) {
    auto p = compile(document);
    ASSERT_TRUE(p) << p.error().message << "\n" << document;
    compiled.push_back(*p);
    pointers.push_back(compiled.back().get());
  }
  evaluation e = evaluate_detailed(pointers, c.action, c.resource, c.ctx);
  EXPECT_EQ(to_string(e.result), to_string(c.expected)) << c.action << " on " << c.resource;
  if (c.deciding_policy != -2) {
    EXPECT_EQ(e.deciding_policy, c.deciding_policy);
  }
  EXPECT_EQ(evaluate(pointers, c.action, c.resource, c.ctx), c.expected);
}

INSTANTIATE_TEST_SUITE_P(policy, decisions, ::testing::ValuesIn(decision_cases()),
                         [](const ::testing::TestParamInfo<decision_case>& info) { return info.param.name; });

struct malformed_case {
  std::string name;
  std::string document;
  std::string message;  // expected to be contained in the error message
};

std::ostream& operator<<(std::ostream& os, const malformed_case& c) { return os << c.name; }

std::string statement_with(std::string_view members) {
  return policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":"*",)" + std::string(members) + "}");
}

std::vector<malformed_case> malformed_cases() {
  return {
      {"invalid_json_says_where", "{\"Version\": \"2012-10-17\",\n  \"Statement\": [,]}",
       "policy document is not valid JSON: syntax error at line 2, column 17"},
      {"truncated_json", R"({"Version":"2012-10-17")", "policy document is not valid JSON"},
      {"text_after_the_document", allow_all + " {}", "unexpected text after the document at line 1, column"},
      {"not_an_object", R"(["Allow"])", "policy document must be a JSON object"},
      {"too_deep", R"({"Statement":[{"Condition":{"A":{"b":[[[[["x"]]]]]}}}]})", "nests deeper than 8 levels"},
      {"too_long", policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":")" + topic(std::string(2000, 'a')) + R"("})"),
       "characters not counting white space; at most 2048 are allowed"},
      {"unknown_version", R"({"Version":"2012-10-18","Statement":[]})", "unknown Version '2012-10-18'"},
      {"version_not_a_string", R"({"Version":2012,"Statement":[]})", "Version must be a string"},
      {"unknown_top_level_element", R"({"Version":"2012-10-17","Statment":[]})", "unknown policy element 'Statment'"},
      {"no_statement", R"({"Version":"2012-10-17"})", "policy has no Statement"},
      {"empty_statement_list", R"({"Version":"2012-10-17","Statement":[]})", "Statement is an empty list"},
      {"statement_not_an_object_or_list", R"({"Version":"2012-10-17","Statement":"Allow"})",
       "Statement must be an object or a list of objects"},
      {"statement_entry_not_an_object", policy(R"("Allow")"), "Statement[0]: must be an object"},
      {"missing_effect", policy(R"({"Action":"iot:Publish","Resource":"*"})"), "Statement[0]: Effect is missing"},
      {"effect_in_lower_case", policy(R"({"Effect":"allow","Action":"iot:Publish","Resource":"*"})"),
       "Statement[0]: unknown Effect 'allow'"},
      {"both_action_and_not_action",
       policy(R"({"Effect":"Allow","Action":"iot:Publish","NotAction":"iot:Connect","Resource":"*"})"),
       "Statement[0]: has both Action and NotAction"},
      {"neither_action_nor_not_action", policy(R"({"Effect":"Allow","Resource":"*"})"),
       "Statement[0]: needs Action or NotAction"},
      {"action_not_a_string", policy(R"({"Effect":"Allow","Action":["iot:Publish",3],"Resource":"*"})"),
       "Statement[0]: Action must be a string or a non-empty list of strings"},
      {"action_empty_list", policy(R"({"Effect":"Allow","Action":[],"Resource":"*"})"),
       "Statement[0]: Action must be a string or a non-empty list of strings"},
      {"action_without_service", policy(R"({"Effect":"Allow","Action":"Publish","Resource":"*"})"),
       "Statement[0]: Action 'Publish' is not of the form 'service:action'"},
      {"not_action_without_service", policy(R"({"Effect":"Allow","NotAction":"iot:","Resource":"*"})"),
       "Statement[0]: NotAction 'iot:' is not of the form 'service:action'"},
      {"resource_not_an_arn",
       policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":"*"},{"Effect":"Deny","Action":"iot:Publish","Resource":["arn:aws:iot:us-east-1:123456789012:topic/a","foo"]})"),
       "Statement[1]: Resource 'foo' is not an ARN"},
      {"not_resource_not_an_arn", policy(R"({"Effect":"Allow","Action":"iot:Publish","NotResource":"topic/a"})"),
       "Statement[0]: NotResource 'topic/a' is not an ARN"},
      {"both_resource_and_not_resource",
       policy(R"({"Effect":"Allow","Action":"iot:Publish","Resource":"*","NotResource":"*"})"),
       "Statement[0]: has both Resource and NotResource"},
      {"missing_resource", policy(R"({"Effect":"Allow","Action":"iot:Publish"})"),
       "Statement[0]: needs Resource or NotResource"},
      {"principal_in_an_iot_policy", statement_with(R"("Principal":{"AWS":"*"})"),
       "Statement[0]: Principal is not allowed in an AWS IoT policy"},
      {"misspelt_statement_element", policy(R"({"Effect":"Allow","Action":"iot:Publish","Resorce":"*"})"),
       "Statement[0]: unknown element 'Resorce'"},
      {"sid_not_a_string", statement_with(R"("Sid":1)"), "Statement[0]: Sid must be a string"},
      {"single_statement_object_says_statement",
       R"({"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"iot:Publish","Resource":"*"}})",
       "Statement: unknown Effect 'Permit'"},
      {"condition_not_an_object", statement_with(R"("Condition":[])"), "Statement[0]: Condition must be an object"},
      {"unknown_condition_operator", statement_with(R"("Condition":{"StringEqual":{"iot:ClientId":"a"}})"),
       "Statement[0]: unknown Condition operator 'StringEqual'"},
      {"condition_operator_not_an_object", statement_with(R"("Condition":{"StringEquals":"a"})"),
       "Statement[0]: Condition operator 'StringEquals' must map condition keys to values"},
      {"null_with_if_exists", statement_with(R"("Condition":{"NullIfExists":{"iot:ClientId":"true"}})"),
       "Null takes neither IfExists nor ForAnyValue/ForAllValues"},
      {"condition_key_without_prefix", statement_with(R"("Condition":{"StringEquals":{"ClientId":"a"}})"),
       "Statement[0]: Condition StringEquals 'ClientId': the key is not of the form 'prefix:name'"},
      {"condition_value_null", statement_with(R"("Condition":{"StringEquals":{"iot:ClientId":null}})"),
       "Condition StringEquals 'iot:ClientId': values must be strings, numbers or booleans"},
      {"condition_value_empty_list", statement_with(R"("Condition":{"StringEquals":{"iot:ClientId":[]}})"),
       "Condition StringEquals 'iot:ClientId': needs at least one value"},
      {"condition_date_unreadable", statement_with(R"("Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}})"),
       "Condition DateLessThan 'aws:CurrentTime': 'tomorrow' is not an ISO 8601 date or epoch seconds"},
      {"condition_ip_unreadable", statement_with(R"("Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}})"),
       "Condition IpAddress 'aws:SourceIp': '10.0.0.0/33' is not an IP address or CIDR range"},
      {"condition_number_unreadable",
       statement_with(R"("Condition":{"NumericLessThan":{"iot:Connection.Thing.Attributes[fw]":"five"}})"),
       "'five' is not a number"},
      {"condition_bool_unreadable", statement_with(R"("Condition":{"Bool":{"aws:SecureTransport":"yes"}})"),
       "Condition Bool 'aws:SecureTransport': 'yes' is not true or false"},
  };
}

class malformed_documents : public ::testing::TestWithParam<malformed_case> {};

TEST_P(malformed_documents, are_refused_with_a_message_that_says_where) {
  const malformed_case& c = GetParam();
  auto p = compile(c.document);
  ASSERT_FALSE(p) << c.document;
  EXPECT_EQ(p.error().code, make_error_code(errc::malformed));
  EXPECT_NE(p.error().message.find(c.message), std::string::npos)
      << "message: " << p.error().message << "\nexpected to contain: " << c.message;
}

INSTANTIATE_TEST_SUITE_P(policy, malformed_documents, ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<malformed_case>& info) { return info.param.name; });

TEST(policy_compile, size_limit_counts_characters_outside_white_space) {
  auto document = [](std::string_view resource, std::string_view space) {
    std::string s(space);
    auto token = [&](std::string_view t) {
      s += t;
      s += space;
    };
    for (std::string_view t : {"{", R"("Version")", ":", R"("2012-10-17")", ",", R"("Statement")", ":", "{",
                               R"("Effect")", ":", R"("Allow")", ",", R"("Action")", ":", R"("iot:Publish")", ",",
                               R"("Resource")", ":"})
      token(t);
    token("\"" + std::string(resource) + "\"");
    token("}");
    token("}");
    return s;
  };
  // The document without white space is 92 characters plus the resource.
  std::string resource = topic("") + std::string(max_policy_characters - 92 - topic("").size(), 'x');
  ASSERT_EQ(document(resource, "").size(), max_policy_characters);
  std::string padded = document(resource, "\n" + std::string(120, ' '));
  EXPECT_GT(padded.size(), 2 * max_policy_characters);
  EXPECT_TRUE(compile(padded));
  EXPECT_FALSE(compile(document(resource + "y", "")));
  // A multi-byte character counts once.
  EXPECT_TRUE(compile(document(resource.substr(0, resource.size() - 1) + "\xc3\xa9", " ")));
}

TEST(policy_compile, accepts_numbers_and_booleans_as_condition_values) {
  auto p = compile(R"({"Version":"2012-10-17","Statement":[{"Sid":"s1","Effect":"Allow","Action":"iot:Publish","Resource":"*",
      "Condition":{"NumericLessThan":{"aws:EpochTime":1.9e9},"Bool":{"aws:SecureTransport":true}}}]})");
  ASSERT_TRUE(p) << p.error().message;
  request_context ctx = device("dev1");
  const compiled_policy* one[] = {p->get()};
  EXPECT_EQ(evaluate(one, "iot:Publish", topic("a"), ctx), decision::allowed);
}

TEST(policy_evaluate, evaluate_one_reports_each_policy_on_its_own) {
  auto allow = compile(allow_all);
  auto deny = compile(policy(R"({"Effect":"Deny","Action":"iot:Publish","Resource":"*"})"));
  auto silent = compile(policy(R"({"Effect":"Allow","Action":"iot:Connect","Resource":"*"})"));
  ASSERT_TRUE(allow && deny && silent);
  request_context ctx = device("dev1");
  EXPECT_EQ(evaluate_one(**allow, "iot:Publish", topic("a"), ctx), decision::allowed);
  EXPECT_EQ(evaluate_one(**deny, "iot:Publish", topic("a"), ctx), decision::explicit_deny);
  EXPECT_EQ(evaluate_one(**silent, "iot:Publish", topic("a"), ctx), decision::implicit_deny);
}

TEST(policy_evaluate, null_entries_are_skipped) {
  auto allow = compile(allow_all);
  ASSERT_TRUE(allow);
  const compiled_policy* policies[] = {nullptr, allow->get()};
  evaluation e = evaluate_detailed(policies, "iot:Publish", topic("a"), device("dev1"));
  EXPECT_EQ(e.result, decision::allowed);
  EXPECT_EQ(e.deciding_policy, 1);
}

TEST(policy_evaluate, current_time_as_a_string_key) {
  auto p = compile(publish_if(topic("*"), R"({"StringLike":{"aws:CurrentTime":"2026-06-15T*"}})"));
  ASSERT_TRUE(p) << p.error().message;
  const compiled_policy* one[] = {p->get()};
  EXPECT_EQ(evaluate(one, "iot:Publish", topic("a"), device("dev1")), decision::allowed);
}

TEST(policy_names, decisions_and_errors_have_their_wire_names) {
  EXPECT_EQ(to_string(decision::allowed), "ALLOWED");
  EXPECT_EQ(to_string(decision::explicit_deny), "EXPLICIT_DENY");
  EXPECT_EQ(to_string(decision::implicit_deny), "IMPLICIT_DENY");
  std::error_code code = errc::malformed;
  EXPECT_STREQ(code.category().name(), "airfleet.policy");
  EXPECT_EQ(code.message(), "malformed policy");
}

}  // namespace
}  // namespace airfleet::policy
