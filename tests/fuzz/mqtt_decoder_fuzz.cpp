// libFuzzer target for the MQTT codec (src/mqtt/codec.hpp) and the topic
// rules (src/mqtt/topic.hpp): what a device sends us, byte for byte.
//
// Built with clang (-fsanitize=fuzzer,address,undefined) by scripts/fuzz-mqtt,
// outside the main CMake build; the seed corpus is tests/fuzz/corpus/mqtt/,
// written by make_mqtt_corpus.cpp.
//
// An input is one configuration byte (protocol level, limits, chunking: see
// mqtt_fuzz_config.hpp), then the byte stream a peer sends.
//
// What must hold for every input; a violation traps, so libFuzzer keeps the
// input as a crash:
//   * no sanitizer report, no failed assert (encode's preconditions
//     included), no hang;
//   * the frame reader cuts the same frames and ends the same way (an error
//     or a partial frame left over) whatever the chunking, and its errors are
//     sticky;
//   * every failure, from framing or decoding, carries an MQTT failure reason
//     code (0x80 and up);
//   * every packet that decodes keeps the rules of mqtt_packet_rules.hpp (so
//     that a check the decoder skips shows up, which the round trip below
//     cannot see);
//   * every packet that decodes encodes, frames and decodes again, with the
//     same limits, to an equal packet (a CONNECT at the level it carries,
//     which connect_protocol_level() must report);
//   * topics: the names and filters that decoded packets carry, and two
//     strings cut from the raw stream, obey the rules written at the top of
//     topic.hpp, and subscription_tree::match() agrees with topic_matches().
#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"
#include "mqtt_fuzz_config.hpp"
#include "mqtt_packet_rules.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace airfleet::mqtt {
namespace {

void require(bool condition, const char* what, const char* detail = "") {
  if (condition) return;
  std::fprintf(stderr, "mqtt_decoder_fuzz: invariant broken: %s%s%s\n", what, *detail ? ": " : "", detail);
  __builtin_trap();
}

bool is_mqtt_failure(const std::error_code& code) {
  return code.category() == mqtt_category() && is_failure(reason_of(code));
}

// What a frame reader made of a stream: its frames, then how it stopped.
struct framing {
  std::vector<raw_frame> frames;
  std::optional<std::error_code> error;  // else it waits for more bytes
  std::size_t left_over = 0;             // buffered() when it waits, else 0
};

// Drains `reader`; returns false once it has failed.
bool drain(frame_reader& reader, framing& out) {
  while (true) {
    auto next = reader.next();
    if (!next) {
      out.error = next.error().code;
      out.left_over = 0;  // an earlier drain of the same reader may have set it
      require(is_mqtt_failure(*out.error), "a framing error carries an MQTT failure reason code");
      auto again = reader.next();
      require(!again && again.error().code == *out.error, "framing errors are sticky");
      return false;
    }
    if (!next->has_value()) {
      out.left_over = reader.buffered();
      return true;
    }
    out.frames.push_back(std::move(**next));
  }
}

framing frame_whole(std::span<const std::uint8_t> stream, const codec_limits& limits) {
  frame_reader reader(limits);
  reader.append(stream);
  framing out;
  drain(reader, out);
  return out;
}

framing frame_in_chunks(std::span<const std::uint8_t> stream, const codec_limits& limits, std::size_t scale) {
  frame_reader reader(limits);
  framing out;
  std::size_t offset = 0;
  while (offset < stream.size()) {
    const std::size_t length = std::min<std::size_t>(1 + stream[offset] % (2 * scale), stream.size() - offset);
    reader.append(stream.subspan(offset, length));
    offset += length;
    if (!drain(reader, out)) return out;
  }
  if (stream.empty()) drain(reader, out);
  return out;
}

bool same_framing(const framing& a, const framing& b) {
  if (a.error != b.error || a.left_over != b.left_over || a.frames.size() != b.frames.size()) return false;
  for (std::size_t i = 0; i < a.frames.size(); ++i) {
    if (a.frames[i].first_byte != b.frames[i].first_byte || a.frames[i].body != b.frames[i].body) return false;
  }
  return true;
}

void check_round_trip(const packet& p, std::uint8_t level, const codec_limits& limits) {
  const auto* connect = std::get_if<connect_packet>(&p);
  const std::uint8_t encode_level = connect ? connect->protocol_level : level;
  const bytes wire = encode(p, encode_level);
  frame_reader reader(codec_limits{.max_packet_size = wire.size()});
  reader.append(wire);
  auto frame = reader.next();
  require(frame && frame->has_value() && reader.buffered() == 0, "an encoded packet is exactly one frame");
  auto back = decode(**frame, encode_level, limits);
  require(back.has_value(), "an encoded packet decodes");
  require(*back == p, "an encoded packet decodes to the packet it was encoded from");
}

// Topic names and filters to check against each other.
struct topic_strings {
  std::vector<std::string> names;
  std::vector<std::string> filters;

  static constexpr std::size_t max_each = 16;  // keeps the pairwise checks cheap

  void add_name(std::string_view name) {
    if (names.size() < max_each) names.emplace_back(name);
  }
  void add_filter(std::string_view filter) {
    if (filters.size() < max_each) filters.emplace_back(filter);
  }
  void add_from(const packet& p) {
    if (const auto* publish = std::get_if<publish_packet>(&p)) {
      if (!publish->topic.empty()) add_name(publish->topic);
      if (publish->props.response_topic) add_name(*publish->props.response_topic);
    } else if (const auto* connect = std::get_if<connect_packet>(&p)) {
      if (connect->will) add_name(connect->will->topic);
    } else if (const auto* subscribe = std::get_if<subscribe_packet>(&p)) {
      for (const subscription& s : subscribe->subscriptions) add_filter(s.filter);
    } else if (const auto* unsubscribe = std::get_if<unsubscribe_packet>(&p)) {
      for (const std::string& f : unsubscribe->filters) add_filter(f);
    }
  }
};

// Two strings from the raw stream, at most a little longer than the default
// topic limit: split at the first 0xFF (a byte UTF-8 never holds), or the
// whole stream as both.
void add_raw_strings(std::span<const std::uint8_t> stream, topic_strings& out) {
  constexpr std::size_t longest = 300;
  auto text = [&](std::size_t from, std::size_t to) {
    to = std::min(to, from + longest);
    return std::string_view(reinterpret_cast<const char*>(stream.data()) + from, to - from);
  };
  const auto split = std::find(stream.begin(), stream.end(), std::uint8_t{0xFF});
  if (split == stream.end()) {
    out.add_filter(text(0, stream.size()));
    out.add_name(text(0, stream.size()));
  } else {
    const auto at = static_cast<std::size_t>(split - stream.begin());
    out.add_filter(text(0, at));
    out.add_name(text(at + 1, stream.size()));
  }
}

void check_topics(const topic_strings& t) {
  struct valid_filter {
    std::string plain;  // without "$share/<group>/"
    std::string group;  // "" when not shared
  };
  std::vector<valid_filter> valid_filters;
  for (const std::string& filter : t.filters) {
    const auto shared = parse_shared(filter);
    if (!valid_topic_filter(filter)) continue;
    if (shared) {
      require(!shared->group.empty() && !shared->filter.empty(), "a valid shared filter has a group and a filter");
      valid_filters.push_back({shared->filter, shared->group});
    } else {
      valid_filters.push_back({filter, ""});
    }
  }

  subscription_tree<std::size_t> tree;
  for (std::size_t i = 0; i < valid_filters.size(); ++i) {
    require(tree.insert(valid_filters[i].plain, std::to_string(i), i, valid_filters[i].group),
            "a new subscriber's subscription is new");
  }
  require(tree.size() == valid_filters.size(), "the tree counts its subscriptions");

  for (const std::string& name : t.names) {
    if (!valid_topic_name(name)) continue;
    const bool system_topic = name.front() == '$';
    require(topic_matches(name, name), "a topic name used as a filter matches itself");
    require(topic_matches("#", name) == !system_topic, "'#' matches every topic but the $-topics");
    if (!name.starts_with("$share/")) require(valid_topic_filter(name), "a topic name is a valid filter");

    std::multiset<std::size_t> expected;
    for (std::size_t i = 0; i < valid_filters.size(); ++i) {
      if (topic_matches(valid_filters[i].plain, name)) expected.insert(i);
    }
    std::multiset<std::size_t> visited;
    tree.match(name, [&](const std::string& subscriber, const std::size_t& i, const std::string& group) {
      require(i < valid_filters.size() && subscriber == std::to_string(i) && group == valid_filters[i].group,
              "the tree visits subscriptions as inserted");
      visited.insert(i);
    });
    require(visited == expected, "subscription_tree::match agrees with topic_matches");
  }

  for (std::size_t i = 0; i < valid_filters.size(); ++i) {
    require(tree.erase(valid_filters[i].plain, std::to_string(i), valid_filters[i].group),
            "an inserted subscription can be erased");
    require(!tree.erase(valid_filters[i].plain, std::to_string(i), valid_filters[i].group),
            "an erased subscription is gone");
  }
  require(tree.size() == 0, "an emptied tree is empty");
}

}  // namespace
}  // namespace airfleet::mqtt

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airfleet::mqtt;
  if (size == 0) return 0;
  const fuzz::fuzz_config config = fuzz::read_config(data[0]);
  const std::span<const std::uint8_t> stream(data + 1, size - 1);

  const framing whole = frame_whole(stream, config.limits);
  if (config.chunk_scale != 0) {
    require(same_framing(whole, frame_in_chunks(stream, config.limits, config.chunk_scale)),
            "chunked framing cuts the same frames as framing in one piece");
  }

  topic_strings seen;
  for (const raw_frame& frame : whole.frames) {
    const std::optional<std::uint8_t> announced = connect_protocol_level(frame);
    auto decoded = decode(frame, config.level, config.limits);
    if (!decoded) {
      require(is_mqtt_failure(decoded.error().code), "a decoding error carries an MQTT failure reason code");
      continue;
    }
    const char* broken = fuzz::first_broken_rule(*decoded, config.level, config.limits);
    require(broken == nullptr, "a decoded packet breaks a rule", broken ? broken : "");
    if (const auto* connect = std::get_if<connect_packet>(&*decoded)) {
      require(announced == connect->protocol_level, "connect_protocol_level() reports a CONNECT's level");
    }
    check_round_trip(*decoded, config.level, config.limits);
    seen.add_from(*decoded);
  }
  add_raw_strings(stream, seen);
  check_topics(seen);
  return 0;
}
