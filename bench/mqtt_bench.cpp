// Costs of the broker's I/O-free layers, per packet: framing + decoding and
// encoding a QoS 1 PUBLISH as a device sends it, and finding the subscribers
// of a topic in a subscription tree shaped like a fleet's (every device
// subscribed to its own $aws/things/<thing>/jobs/... filters).
#include "mqtt/codec.hpp"
#include "mqtt/topic.hpp"

#include <benchmark/benchmark.h>

using namespace airfleet::mqtt;

namespace {

publish_packet device_publish() {
  publish_packet p;
  p.qos = qos::at_least_once;
  p.packet_id = 7;
  p.topic = "$aws/things/IoTDevice-abc-1/jobs/job-42/update";
  p.payload = bytes(64, 'x');
  return p;
}

void frame_and_decode_publish(benchmark::State& state, std::uint8_t level) {
  auto wire = encode(packet{device_publish()}, level);
  frame_reader reader;
  for (auto _ : state) {
    reader.append(wire);
    auto frame = reader.next();
    auto decoded = decode(**frame, level);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(frame_and_decode_publish, v311, 4);
BENCHMARK_CAPTURE(frame_and_decode_publish, v5, 5);

void encode_publish(benchmark::State& state) {
  packet p{device_publish()};
  std::vector<std::uint8_t> out;
  for (auto _ : state) {
    out.clear();
    encode(p, 5, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(encode_publish);

struct sub_options {
  int qos = 1;
};

// range(0) devices, each with the 3 filters the AWS jobs SDK subscribes to.
void match_in_fleet_tree(benchmark::State& state) {
  subscription_tree<sub_options> tree;
  auto devices = state.range(0);
  for (long i = 0; i < devices; ++i) {
    std::string base = "$aws/things/dev-" + std::to_string(i) + "/jobs/";
    std::string client = "dev-" + std::to_string(i);
    tree.insert(base + "notify-next", client, {});
    tree.insert(base + "+/update/accepted", client, {});
    tree.insert(base + "start-next/accepted", client, {});
  }
  tree.insert("$aws/events/#", "monitor", {});
  std::size_t hits = 0;
  long n = 0;
  for (auto _ : state) {
    std::string topic = "$aws/things/dev-" + std::to_string(n++ % devices) + "/jobs/job-1/update/accepted";
    tree.match(topic, [&](const std::string&, const sub_options&, const std::string&) { ++hits; });
  }
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(match_in_fleet_tree)->Arg(1000)->Arg(15000);

}  // namespace

BENCHMARK_MAIN();
