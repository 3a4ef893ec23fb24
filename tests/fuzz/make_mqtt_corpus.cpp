// Writes the seed corpus of mqtt_decoder_fuzz.cpp, every packet by our own
// encoder: every packet type in both protocol levels, plain and with the
// fields and properties it may carry; the whole session as one stream, in
// chunks and under tight limits; packets just inside the tight limits and
// packets refused for one rule each; and a few topic filter/name pairs. Each
// file starts with the fuzzer's configuration byte (mqtt_fuzz_config.hpp).
//
//   scripts/fuzz-mqtt --write-corpus     rebuilds this and rewrites tests/fuzz/corpus/mqtt/
//
// Each seed is checked to do what it is there for under its configuration:
// decode (packets also back to the packet they were made from), or be
// refused.
#include "mqtt/codec.hpp"
#include "mqtt_fuzz_config.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airfleet::mqtt {
namespace {

bytes text(std::string_view s) { return bytes(s.begin(), s.end()); }

struct named_packet {
  std::string name;
  packet p;
};

std::vector<named_packet> packets_for(std::uint8_t level) {
  const bool five = level == protocol_level_5;
  std::vector<named_packet> out;

  out.push_back({"connect-minimal", connect_packet{.protocol_level = level, .client_id = "sensor-7"}});
  {
    connect_packet c{.protocol_level = level, .clean_start = false, .keep_alive = 1200, .client_id = "gw/01"};
    c.will = will_message{.topic = "fleet/gw/01/status", .payload = text("offline"), .qos = qos::at_least_once,
                          .retain = true};
    c.username = "gateway";
    c.password = bytes{0x73, 0x00, 0xFF, 0x10};
    if (five) {
      c.props.session_expiry_interval = 86400;
      c.props.receive_maximum = 16;
      c.props.maximum_packet_size = 4096;
      c.props.topic_alias_maximum = 4;
      c.props.request_response_information = 1;
      c.props.request_problem_information = 1;
      c.props.user_properties = {{"fw", "2.4.1"}};
      c.will->props.will_delay_interval = 10;
      c.will->props.payload_format_indicator = 1;
      c.will->props.content_type = "text/plain";
      c.will->props.message_expiry_interval = 600;
    }
    out.push_back({"connect-will-user-password", c});
  }
  if (five) {
    connect_packet c{.protocol_level = level, .keep_alive = 0, .client_id = ""};
    c.props.authentication_method = "SCRAM-SHA-256";
    c.props.authentication_data = text("n,,n=dev,r=abc");
    out.push_back({"connect-enhanced-auth", c});
  }

  out.push_back({"connack-accepted", connack_packet{}});
  out.push_back({"connack-refused", connack_packet{.reason = reason_code::not_authorized}});
  if (five) {
    connack_packet c{.session_present = true};
    c.props.assigned_client_identifier = "auto-5f2c";
    c.props.server_keep_alive = 120;
    c.props.maximum_qos = 1;
    c.props.retain_available = 1;
    c.props.wildcard_subscription_available = 1;
    c.props.subscription_identifier_available = 1;
    c.props.shared_subscription_available = 0;
    c.props.topic_alias_maximum = 8;
    c.props.reason_string = "welcome";
    out.push_back({"connack-properties", c});
  }

  out.push_back({"publish-qos0", publish_packet{.topic = "fleet/dev-1/telemetry", .payload = text("{\"t\":21.5}")}});
  out.push_back({"publish-qos1-retain", publish_packet{.qos = qos::at_least_once, .retain = true,
                                                       .topic = "$aws/things/dev-1/shadow/update", .packet_id = 17,
                                                       .payload = text("{\"state\":{}}")}});
  out.push_back({"publish-qos2-dup", publish_packet{.dup = true, .qos = qos::exactly_once, .topic = "a/b",
                                                    .packet_id = 0xFFFF, .payload = bytes(40, 0x5A)}});
  if (five) {
    publish_packet p{.qos = qos::at_least_once, .topic = "cmd/dev-1", .packet_id = 9, .payload = text("reboot")};
    p.props.payload_format_indicator = 1;
    p.props.message_expiry_interval = 30;
    p.props.content_type = "text/plain";
    p.props.response_topic = "cmd/dev-1/reply";
    p.props.correlation_data = bytes{1, 2, 3, 4};
    p.props.subscription_identifiers = {5, 200000};
    p.props.user_properties = {{"trace", "x1"}, {"trace", "x2"}};
    out.push_back({"publish-properties", p});
    out.push_back({"publish-topic-alias", publish_packet{.topic = "", .payload = text("1"), .props = {.topic_alias = 2}}});
  }

  properties reason_props;
  if (five) reason_props = {.reason_string = "quota", .user_properties = {{"k", "v"}}};
  out.push_back({"puback", puback_packet{.packet_id = 17}});
  out.push_back({"pubrec", pubrec_packet{.packet_id = 0xFFFF}});
  out.push_back({"pubrel", pubrel_packet{.packet_id = 0xFFFF}});
  out.push_back({"pubcomp", pubcomp_packet{.packet_id = 0xFFFF}});
  if (five) {
    out.push_back({"puback-reason", puback_packet{.packet_id = 3, .reason = reason_code::quota_exceeded,
                                                  .props = reason_props}});
    out.push_back({"pubrec-reason", pubrec_packet{.packet_id = 4, .reason = reason_code::no_matching_subscribers}});
    out.push_back({"pubrel-reason", pubrel_packet{.packet_id = 5, .reason = reason_code::packet_identifier_not_found,
                                                  .props = reason_props}});
    out.push_back({"pubcomp-reason", pubcomp_packet{.packet_id = 6, .reason = reason_code::packet_identifier_not_found}});
  }

  {
    subscribe_packet s{.packet_id = 10};
    s.subscriptions.push_back({.filter = "fleet/+/telemetry", .qos = qos::at_least_once});
    s.subscriptions.push_back({.filter = "$aws/things/dev-1/jobs/#", .qos = qos::exactly_once});
    s.subscriptions.push_back({.filter = "$share/workers/jobs/+", .qos = qos::at_most_once});
    if (five) {
      s.subscriptions.push_back({.filter = "echo/#", .qos = qos::at_least_once, .no_local = true,
                                 .retain_as_published = true, .retain_handling = retain_handling::do_not_send});
      s.props.subscription_identifiers = {77};
      s.props.user_properties = {{"tenant", "t1"}};
    }
    out.push_back({"subscribe", s});
  }
  {
    suback_packet s{.packet_id = 10, .reasons = {reason_code::granted_qos_1, reason_code::granted_qos_2,
                                                 reason_code::granted_qos_0, reason_code::unspecified_error}};
    if (five) {
      s.reasons.push_back(reason_code::shared_subscriptions_not_supported);
      s.props.reason_string = "one refused";
    }
    out.push_back({"suback", s});
  }
  {
    unsubscribe_packet u{.packet_id = 11, .filters = {"fleet/+/telemetry", "$share/workers/jobs/+"}};
    if (five) u.props.user_properties = {{"why", "done"}};
    out.push_back({"unsubscribe", u});
  }
  {
    unsuback_packet u{.packet_id = 11};
    if (five) u.reasons = {reason_code::success, reason_code::no_subscription_existed};
    out.push_back({"unsuback", u});
  }

  out.push_back({"pingreq", pingreq_packet{}});
  out.push_back({"pingresp", pingresp_packet{}});
  out.push_back({"disconnect", disconnect_packet{}});
  if (five) {
    disconnect_packet d{.reason = reason_code::session_taken_over};
    d.props.reason_string = "another connection";
    d.props.server_reference = "node-2:8883";
    out.push_back({"disconnect-reason", d});
    out.push_back({"auth", auth_packet{}});
    auth_packet a{.reason = reason_code::continue_authentication};
    a.props.authentication_method = "SCRAM-SHA-256";
    a.props.authentication_data = text("r=abcdef,s=salt,i=4096");
    out.push_back({"auth-continue", a});
  }
  return out;
}

// Packets the decoder must refuse, each for one rule, mostly under the tight
// limits of the configuration byte: the seeds that reach the refusals.
struct refused_packet {
  std::string name;
  std::uint8_t config;
  packet p;
};

std::vector<refused_packet> refused_packets() {
  using fuzz::config_level_5;
  using fuzz::config_packet_size_512;
  using fuzz::config_tight_limits;
  std::vector<refused_packet> out;
  {
    subscribe_packet s{.packet_id = 1, .subscriptions = {{.filter = "a"}}};
    s.props.subscription_identifiers = {1, 2};
    out.push_back({"v5-refused-subscribe-two-identifiers", config_level_5, s});
  }
  {
    publish_packet p{.topic = "a/b", .payload = text("x")};
    p.props.user_properties = {{"a", "1"}, {"b", "2"}};
    out.push_back({"v5-refused-publish-user-properties", config_level_5 | config_tight_limits, p});
  }
  {
    connect_packet c{.protocol_level = protocol_level_5, .client_id = "c"};
    c.props.session_expiry_interval = 1;
    c.props.receive_maximum = 2;
    c.props.topic_alias_maximum = 3;
    out.push_back({"v5-refused-connect-properties", config_level_5 | config_tight_limits, c});
  }
  {
    auth_packet a{.reason = reason_code::continue_authentication};
    a.props.authentication_data = bytes{1, 2, 3};
    out.push_back({"v5-refused-auth-data-without-method", config_level_5, a});
  }
  out.push_back({"v3-refused-subscribe-filters", config_tight_limits,
                 subscribe_packet{.packet_id = 2, .subscriptions = {{.filter = "a"}, {.filter = "b"}, {.filter = "c"}}}});
  out.push_back({"v3-refused-publish-long-topic", config_tight_limits,
                 publish_packet{.topic = "seventeen/bytes/x", .payload = text("x")}});
  out.push_back({"v5-refused-publish-too-large", config_level_5 | config_packet_size_512,
                 publish_packet{.topic = "big", .payload = bytes(600, 0x42)}});
  return out;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "make_mqtt_corpus: %s\n", what.c_str());
  std::exit(1);
}

enum class expect { decodes, refused, anything };

// Does `stream` frame and decode completely under `config`?
bool decodes(std::uint8_t config, const bytes& stream) {
  const fuzz::fuzz_config settings = fuzz::read_config(config);
  frame_reader reader(settings.limits);
  reader.append(stream);
  while (true) {
    auto frame = reader.next();
    if (!frame) return false;
    if (!frame->has_value()) return reader.buffered() == 0;
    if (!decode(**frame, settings.level, settings.limits)) return false;
  }
}

void write(const std::string& directory, const std::string& name, std::uint8_t config, const bytes& stream,
           expect expected) {
  if (expected != expect::anything && decodes(config, stream) != (expected == expect::decodes)) {
    fail(name + (expected == expect::decodes ? " does not decode" : " is not refused"));
  }
  std::ofstream file(directory + "/" + name, std::ios::binary | std::ios::trunc);
  file.put(static_cast<char>(config));
  file.write(reinterpret_cast<const char*>(stream.data()), static_cast<std::streamsize>(stream.size()));
  if (!file) fail("cannot write " + directory + "/" + name);
}

}  // namespace
}  // namespace airfleet::mqtt

int main(int argc, char** argv) {
  using namespace airfleet::mqtt;
  using namespace airfleet::mqtt::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::string directory = argv[1];
  int count = 0;
  for (const std::uint8_t level : {protocol_level_3_1_1, protocol_level_5}) {
    const std::string prefix = level == protocol_level_5 ? "v5-" : "v3-";
    const std::uint8_t level_bit = level == protocol_level_5 ? config_level_5 : 0;
    bytes session;
    for (const named_packet& n : packets_for(level)) {
      const bytes wire = encode(n.p, level);
      frame_reader reader;
      reader.append(wire);
      auto frame = reader.next();
      if (!frame || !frame->has_value()) fail(prefix + n.name + " does not frame");
      auto back = decode(**frame, level);
      if (!back || *back != n.p) fail(prefix + n.name + " does not decode to itself");
      write(directory, prefix + n.name, level_bit, wire, expect::decodes);
      session.insert(session.end(), wire.begin(), wire.end());
      ++count;
    }
    // The whole session as one stream: in one piece, in chunks of 1..6 and of
    // 1..30 bytes, and under tight limits (512-byte packets, short topics).
    write(directory, prefix + "session", level_bit, session, expect::decodes);
    write(directory, prefix + "session-chunks-small", config_chunks(3) | level_bit, session, expect::decodes);
    write(directory, prefix + "session-chunks-large", config_chunks(15) | level_bit, session, expect::decodes);
    write(directory, prefix + "session-tight-limits", config_tight_limits | config_packet_size_512 | level_bit,
          session, expect::refused);
    count += 4;
  }
  {
    // Just inside the tight limits: two filters, one user property, two properties.
    subscribe_packet s{.packet_id = 3, .subscriptions = {{.filter = "sixteen/bytes/ab"}, {.filter = "+/#"}}};
    s.props.subscription_identifiers = {9};
    s.props.user_properties = {{"k", "v"}};
    write(directory, "v5-subscribe-at-tight-limits", config_level_5 | config_tight_limits,
          encode(s, protocol_level_5), expect::decodes);
    ++count;
  }
  for (const refused_packet& r : refused_packets()) {
    const std::uint8_t level = (r.config & config_level_5) ? protocol_level_5 : protocol_level_3_1_1;
    write(directory, r.name, r.config, encode(r.p, level), expect::refused);
    ++count;
  }
  // Topic filter and name pairs, split at 0xFF (see add_raw_strings).
  const std::pair<const char*, std::string_view> pairs[] = {
      {"topics-plus", "a/+/c\xFF" "a/b/c"},
      {"topics-hash-parent", "a/#\xFF" "a"},
      {"topics-system", "+/x\xFF$SYS/x"},
      {"topics-aws-reserved", "$aws/things/+/shadow/#\xFF$aws/things/dev-1/shadow/get/accepted"},
      {"topics-shared", "$share/g/sensors/#\xFF" "sensors/t"},
      {"topics-empty-levels", "/+//#\xFF/a//b"},
  };
  for (const auto& [name, contents] : pairs) {
    write(directory, name, 0x00, text(contents), expect::anything);
    ++count;
  }
  std::printf("wrote %d seeds to %s\n", count, directory.c_str());
  return 0;
}
