// The broker core without sockets: clients are fake links that collect what
// the broker writes; the authenticator judges by simple rules; time is a
// manual clock; posted work runs when the test says so.
#include "mqtt/broker.hpp"

#include "storage/mqtt_store.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace airfleet::mqtt {
namespace {

struct fake_link final : link {
  bytes out;
  bool closed = false;
  std::size_t pending = 0;
  void send(std::span<const std::uint8_t> b) override { out.insert(out.end(), b.begin(), b.end()); }
  std::size_t pending_bytes() const override { return pending; }
  void close() override { closed = true; }
};

struct rule_access final : access {
  std::string id;
  std::set<std::string> denied;  // "publish:topic", "subscribe:filter", "receive:topic", "connect:client"
  bool allowed(action a, std::string_view name) override {
    static const char* names[] = {"connect", "publish", "subscribe", "receive"};
    return !denied.count(std::string(names[static_cast<int>(a)]) + ":" + std::string(name));
  }
  const std::string& principal() const override { return id; }
  bool concerned_by(std::string_view s) const override { return s == id; }
};

struct rule_authenticator final : authenticator {
  std::set<std::string> denied;
  std::set<std::string> unknown_clients;  // authentication itself fails
  void authenticate(const peer&, const std::string& client_id,
                    std::function<void(core::result<std::shared_ptr<access>>)> done) override {
    if (unknown_clients.count(client_id)) return done(core::make_error(std::errc::permission_denied, "unknown"));
    auto a = std::make_shared<rule_access>();
    a->id = "cert-" + client_id;
    a->denied = denied;
    done(std::shared_ptr<access>(a));
  }
};

// Records changes; flushes complete only when the test releases them.
struct fake_store final : storage::mqtt_store {
  std::map<std::string, std::string> sessions;
  std::map<std::pair<std::string, std::int64_t>, std::string> messages;
  std::map<std::string, std::string> retained;
  std::deque<std::function<void(bool)>> flushes;
  core::result<storage::mqtt_snapshot> load() override {
    storage::mqtt_snapshot s;
    for (auto& [k, v] : sessions) s.sessions.push_back({k, v});
    for (auto& [k, v] : messages) s.messages.push_back({k.first, k.second, v});
    for (auto& [k, v] : retained) s.retained.push_back({k, v});
    return s;
  }
  void put_session(const std::string& c, std::string s) override { sessions[c] = std::move(s); }
  void delete_session(const std::string& c) override {
    sessions.erase(c);
    std::erase_if(messages, [&](const auto& kv) { return kv.first.first == c; });
  }
  void put_message(const std::string& c, std::int64_t seq, std::string m) override { messages[{c, seq}] = std::move(m); }
  void delete_messages(const std::string& c, std::vector<std::int64_t> seqs) override {
    for (auto s : seqs) messages.erase({c, s});
  }
  void put_retained(const std::string& t, std::string m) override { retained[t] = std::move(m); }
  void delete_retained(const std::string& t) override { retained.erase(t); }
  void flush(std::function<void(bool)> done) override { flushes.push_back(std::move(done)); }
  void release_all() {
    while (!flushes.empty()) {
      auto f = std::move(flushes.front());
      flushes.pop_front();
      f(true);
    }
  }
};

class BrokerTest : public ::testing::Test {
 protected:
  struct client {
    BrokerTest* t;
    std::shared_ptr<fake_link> l;
    broker::connection_id id;
    std::uint8_t level;
    std::size_t read = 0;

    void send(const packet& p) {
      auto b = encode(p, level);
      t->b->received(id, b);
      t->run_posted();
    }
    // Every packet the broker wrote since the last call.
    std::vector<packet> packets() {
      std::vector<packet> out;
      codec_limits limits;
      limits.max_packet_size = 1 << 24;
      frame_reader r(limits);
      r.append({l->out.data() + read, l->out.size() - read});
      read = l->out.size();
      while (true) {
        auto f = r.next();
        EXPECT_TRUE(f.has_value());
        if (!f || !*f) break;
        auto p = decode(**f, level, limits);
        EXPECT_TRUE(p.has_value()) << p.error().message;
        if (p) out.push_back(std::move(*p));
      }
      return out;
    }
    std::vector<publish_packet> publishes() {
      std::vector<publish_packet> out;
      for (auto& p : packets())
        if (auto* pub = std::get_if<publish_packet>(&p)) out.push_back(*pub);
      return out;
    }
  };

  void SetUp() override { make_broker(); }

  void make_broker() {
    b = std::make_unique<broker>(limits, auth, clock, [this](std::function<void()> f) { posted.push_back(std::move(f)); },
                                 use_store ? &store : nullptr);
  }

  void run_posted() {
    while (!posted.empty()) {
      auto f = std::move(posted.front());
      posted.pop_front();
      f();
    }
  }

  client open(std::uint8_t level = protocol_level_3_1_1) {
    auto l = std::make_shared<fake_link>();
    auto id = b->open(l, peer{"127.0.0.1", nullptr, false});
    return client{this, l, id, level};
  }

  client connect(const std::string& id, std::uint8_t level = protocol_level_3_1_1, bool clean = true,
                 properties props = {}, std::optional<will_message> will = std::nullopt, std::uint16_t keep_alive = 60) {
    auto c = open(level);
    connect_packet p;
    p.protocol_level = level;
    p.client_id = id;
    p.clean_start = clean;
    p.props = props;
    p.will = will;
    p.keep_alive = keep_alive;
    c.send(p);
    return c;
  }

  static std::string text(const bytes& b) { return std::string(b.begin(), b.end()); }
  static bytes data(std::string_view s) { return bytes(s.begin(), s.end()); }

  publish_packet pub(std::string topic, std::string payload, qos q = qos::at_most_once, std::uint16_t id = 0,
                     bool retain = false) {
    publish_packet p;
    p.topic = std::move(topic);
    p.payload = data(payload);
    p.qos = q;
    p.packet_id = q == qos::at_most_once ? 0 : (id ? id : 1);
    p.retain = retain;
    return p;
  }
  subscribe_packet sub(std::string filter, qos q = qos::at_least_once, std::uint16_t id = 1) {
    subscribe_packet p;
    p.packet_id = id;
    p.subscriptions.push_back({std::move(filter), q});
    return p;
  }

  broker_limits limits;
  rule_authenticator auth;
  core::manual_clock clock{core::from_epoch_millis(1'700'000'000'000)};
  std::deque<std::function<void()>> posted;
  fake_store store;
  bool use_store = false;
  std::unique_ptr<broker> b;
};

TEST_F(BrokerTest, ConnectIsAnsweredWithConnackAndV5Limits) {
  auto c = connect("dev1", protocol_level_5);
  auto got = c.packets();
  ASSERT_EQ(got.size(), 1u);
  auto& ack = std::get<connack_packet>(got[0]);
  EXPECT_EQ(ack.reason, reason_code::success);
  EXPECT_FALSE(ack.session_present);
  EXPECT_EQ(ack.props.receive_maximum, limits.receive_maximum);
  EXPECT_EQ(ack.props.topic_alias_maximum, limits.topic_alias_maximum);
  EXPECT_FALSE(c.l->closed);
}

TEST_F(BrokerTest, FirstPacketMustBeConnect) {
  auto c = open();
  c.send(pingreq_packet{});
  EXPECT_TRUE(c.l->closed);
  EXPECT_TRUE(c.packets().empty());
}

TEST_F(BrokerTest, UnknownIdentityAndDeniedConnectAreNotAuthorized) {
  auth.unknown_clients.insert("ghost");
  auto g = connect("ghost");
  auto got = g.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<connack_packet>(got[0]).reason, reason_code::not_authorized);
  EXPECT_TRUE(g.l->closed);

  auth.denied.insert("connect:nope");
  auto n = connect("nope", protocol_level_5);
  got = n.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<connack_packet>(got[0]).reason, reason_code::not_authorized);
  EXPECT_TRUE(n.l->closed);
}

TEST_F(BrokerTest, PublishQos1ReachesSubscriberAndIsAcknowledged) {
  auto s = connect("sub");
  s.packets();
  s.send(sub("a/+/c"));
  auto acks = s.packets();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<suback_packet>(acks[0]).reasons, std::vector<reason_code>{reason_code::granted_qos_1});

  auto p = connect("pub");
  p.packets();
  p.send(pub("a/b/c", "hello", qos::at_least_once, 7));
  auto back = p.packets();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(std::get<puback_packet>(back[0]).packet_id, 7);

  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "a/b/c");
  EXPECT_EQ(text(got[0].payload), "hello");
  EXPECT_EQ(got[0].qos, qos::at_least_once);
  EXPECT_NE(got[0].packet_id, 0);

  p.send(pub("a/b/d", "no match", qos::at_most_once));
  EXPECT_TRUE(s.publishes().empty());
}

TEST_F(BrokerTest, DeliveryQosIsTheLowerOfPublishAndSubscription) {
  auto s = connect("sub");
  s.send(sub("t", qos::at_most_once));
  s.packets();
  auto p = connect("pub");
  p.send(pub("t", "x", qos::exactly_once, 3));
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].qos, qos::at_most_once);
}

TEST_F(BrokerTest, Qos2IsRoutedOnceEvenWhenThePublishIsRepeated) {
  auto s = connect("sub");
  s.send(sub("t", qos::exactly_once));
  s.packets();
  auto p = connect("pub");
  p.packets();
  p.send(pub("t", "once", qos::exactly_once, 9));
  auto dup = pub("t", "once", qos::exactly_once, 9);
  dup.dup = true;
  p.send(dup);
  auto back = p.packets();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<pubrec_packet>(back[0]).packet_id, 9);
  EXPECT_EQ(std::get<pubrec_packet>(back[1]).packet_id, 9);
  p.send(pubrel_packet{9, reason_code::success, {}});
  back = p.packets();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(std::get<pubcomp_packet>(back[0]).packet_id, 9);

  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  // The subscriber's side of QoS 2: PUBREC -> PUBREL -> PUBCOMP.
  s.send(pubrec_packet{got[0].packet_id, reason_code::success, {}});
  auto rel = s.packets();
  ASSERT_EQ(rel.size(), 1u);
  EXPECT_EQ(std::get<pubrel_packet>(rel[0]).packet_id, got[0].packet_id);
  s.send(pubcomp_packet{got[0].packet_id, reason_code::success, {}});
  EXPECT_TRUE(s.packets().empty());
}

TEST_F(BrokerTest, LeadingWildcardsDoNotMatchDollarTopics) {
  auto s = connect("sub");
  s.send(sub("#"));
  s.send(sub("$aws/events/presence/connected/+", qos::at_least_once, 2));
  s.packets();
  connect("someone");
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);  // once: through the explicit filter, not through '#'
  EXPECT_EQ(got[0].topic, "$aws/events/presence/connected/someone");
  EXPECT_NE(text(got[0].payload).find("\"eventType\":\"connected\""), std::string::npos);
}

TEST_F(BrokerTest, SharedSubscriptionDeliversEachMessageToOneMember) {
  auto a = connect("a");
  auto c = connect("c");
  a.send(sub("$share/g/jobs/#"));
  c.send(sub("$share/g/jobs/#"));
  a.packets();
  c.packets();
  auto p = connect("pub");
  for (int i = 0; i < 10; ++i) p.send(pub("jobs/x", std::to_string(i), qos::at_most_once));
  auto ga = a.publishes();
  auto gc = c.publishes();
  EXPECT_EQ(ga.size() + gc.size(), 10u);
  EXPECT_EQ(ga.size(), 5u);  // round robin
}

TEST_F(BrokerTest, RetainedMessagesAreKeptSentOnSubscribeAndClearedByAnEmptyPayload) {
  auto p = connect("pub");
  p.send(pub("r/1", "kept", qos::at_least_once, 1, true));
  auto s = connect("sub");
  s.packets();
  s.send(sub("r/#"));
  auto got = s.packets();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<suback_packet>(got[0]));  // SUBACK first
  auto& r = std::get<publish_packet>(got[1]);
  EXPECT_TRUE(r.retain);
  EXPECT_EQ(text(r.payload), "kept");

  p.send(pub("r/1", "", qos::at_most_once, 0, true));
  EXPECT_EQ(s.publishes().size(), 1u);  // the empty message itself is delivered to live subscribers
  auto late = connect("late");
  late.packets();
  late.send(sub("r/#"));
  auto after = late.packets();
  ASSERT_EQ(after.size(), 1u);  // only the SUBACK: nothing retained any more
  EXPECT_EQ(b->stats().retained, 0u);
}

TEST_F(BrokerTest, WillIsPublishedWhenTheConnectionIsLostButNotAfterDisconnect) {
  auto s = connect("sub");
  s.send(sub("will/#"));
  s.packets();
  will_message w;
  w.topic = "will/dev";
  w.payload = data("gone");
  auto d = connect("dev", protocol_level_3_1_1, true, {}, w);
  b->closed(d.id);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(text(got[0].payload), "gone");

  auto d2 = connect("dev2", protocol_level_3_1_1, true, {}, w);
  d2.send(disconnect_packet{});
  EXPECT_TRUE(d2.l->closed);
  b->closed(d2.id);
  EXPECT_TRUE(s.publishes().empty());
}

TEST_F(BrokerTest, WillDelayIsCancelledByAReconnect) {
  auto s = connect("sub");
  s.send(sub("will/#"));
  s.packets();
  will_message w;
  w.topic = "will/dev";
  w.payload = data("gone");
  w.props.will_delay_interval = 5;
  properties keep;
  keep.session_expiry_interval = 60;
  auto d = connect("dev", protocol_level_5, false, keep, w);
  b->closed(d.id);
  b->tick();
  EXPECT_TRUE(s.publishes().empty());
  clock.advance(std::chrono::seconds(2));
  connect("dev", protocol_level_5, false, keep);
  clock.advance(std::chrono::seconds(10));
  b->tick();
  EXPECT_TRUE(s.publishes().empty());

  auto d3 = connect("dev3", protocol_level_5, false, keep, w);
  b->closed(d3.id);
  clock.advance(std::chrono::seconds(6));
  b->tick();
  EXPECT_EQ(s.publishes().size(), 1u);
}

TEST_F(BrokerTest, SecondConnectionWithTheSameClientIdTakesOver) {
  auto first = connect("dev", protocol_level_5);
  first.packets();
  auto second = connect("dev", protocol_level_5);
  EXPECT_TRUE(first.l->closed);
  auto got = first.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<disconnect_packet>(got[0]).reason, reason_code::session_taken_over);
  EXPECT_FALSE(second.l->closed);
  b->closed(first.id);  // the transport reports the old socket's end: the new one stays
  EXPECT_EQ(b->stats().sessions, 1u);
}

TEST_F(BrokerTest, KeepAliveIsEnforcedAtOneAndAHalfTimes) {
  auto c = connect("dev", protocol_level_5, true, {}, std::nullopt, 10);
  c.packets();
  clock.advance(std::chrono::seconds(14));
  b->tick();
  EXPECT_FALSE(c.l->closed);
  clock.advance(std::chrono::seconds(2));
  b->tick();
  EXPECT_TRUE(c.l->closed);
  auto got = c.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<disconnect_packet>(got[0]).reason, reason_code::keep_alive_timeout);
}

TEST_F(BrokerTest, PersistentSessionQueuesWhileOfflineAndResumes) {
  auto s = connect("dev", protocol_level_3_1_1, false);
  s.send(sub("cmd/dev", qos::at_least_once));
  b->closed(s.id);
  auto p = connect("pub");
  p.send(pub("cmd/dev", "m1", qos::at_least_once, 1));
  p.send(pub("cmd/dev", "m0", qos::at_most_once));  // QoS 0 is not queued for offline sessions
  p.send(pub("cmd/dev", "m2", qos::at_least_once, 2));
  auto again = connect("dev", protocol_level_3_1_1, false);
  auto got = again.packets();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(std::get<connack_packet>(got[0]).session_present);
  EXPECT_EQ(text(std::get<publish_packet>(got[1]).payload), "m1");
  EXPECT_EQ(text(std::get<publish_packet>(got[2]).payload), "m2");

  // A clean start throws the session away.
  b->closed(again.id);
  p.send(pub("cmd/dev", "m3", qos::at_least_once, 3));
  auto clean = connect("dev", protocol_level_3_1_1, true);
  got = clean.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(std::get<connack_packet>(got[0]).session_present);
}

TEST_F(BrokerTest, AuthorizationJudgesSubscribePublishAndReceive) {
  auth.denied = {"subscribe:secret/#", "publish:forbidden", "receive:hidden"};
  auto s = connect("sub");
  s.packets();
  subscribe_packet two;
  two.packet_id = 4;
  two.subscriptions = {{"secret/#", qos::at_least_once}, {"open/#", qos::at_least_once}, {"hidden", qos::at_least_once}};
  s.send(two);
  auto got = s.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<suback_packet>(got[0]).reasons,
            (std::vector<reason_code>{reason_code::unspecified_error,  // 3.1.1's only failure code, 0x80
                                      reason_code::granted_qos_1, reason_code::granted_qos_1}));
  auto p = connect("pub");
  p.packets();
  p.send(pub("hidden", "x", qos::at_least_once));
  EXPECT_TRUE(s.publishes().empty());  // receive denied: silently not delivered
  p.send(pub("open/1", "y", qos::at_least_once, 2));
  EXPECT_EQ(s.publishes().size(), 1u);
  p.packets();
  p.send(pub("forbidden", "z", qos::at_least_once, 3));
  EXPECT_TRUE(p.l->closed);  // AWS disconnects a client whose publish is denied
}

TEST_F(BrokerTest, ReservedTopicsGoToTheirServiceOrCloseTheConnection) {
  std::vector<service_request> seen;
  b->register_service("$aws/things/+/jobs/#", [&](const service_request& r) { seen.push_back(r); });
  auto c = connect("thing1");
  c.packets();
  c.send(pub("$aws/things/thing1/jobs/get", "{}", qos::at_least_once, 5));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].client_id, "thing1");
  EXPECT_EQ(seen[0].principal, "cert-thing1");
  EXPECT_EQ(std::get<puback_packet>(c.packets().at(0)).packet_id, 5);
  c.send(pub("$aws/events/presence/connected/fake", "{}"));
  EXPECT_TRUE(c.l->closed);
}

TEST_F(BrokerTest, InflightWindowFollowsTheClientsReceiveMaximum) {
  properties rm;
  rm.receive_maximum = 2;
  auto s = connect("sub", protocol_level_5, true, rm);
  s.send(sub("t"));
  s.packets();
  auto p = connect("pub");
  for (int i = 1; i <= 5; ++i) p.send(pub("t", std::to_string(i), qos::at_least_once, static_cast<std::uint16_t>(i)));
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 2u);
  s.send(puback_packet{got[0].packet_id, reason_code::success, {}});
  auto next = s.publishes();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(text(next[0].payload), "3");
}

TEST_F(BrokerTest, OfflineQueueIsBounded) {
  limits.max_queued_messages = 3;
  make_broker();
  auto s = connect("dev", protocol_level_3_1_1, false);
  s.send(sub("t"));
  b->closed(s.id);
  auto p = connect("pub");
  for (int i = 1; i <= 5; ++i) p.send(pub("t", std::to_string(i), qos::at_least_once, static_cast<std::uint16_t>(i)));
  EXPECT_EQ(b->stats().dropped, 2u);
  auto again = connect("dev", protocol_level_3_1_1, false);
  EXPECT_EQ(again.publishes().size(), 3u);
}

TEST_F(BrokerTest, TopicAliasesResolveAndAreChecked) {
  auto s = connect("sub");
  s.send(sub("long/topic/name"));
  s.packets();
  auto p = connect("pub", protocol_level_5);
  p.packets();
  auto first = pub("long/topic/name", "1");
  first.props.topic_alias = 3;
  p.send(first);
  auto second = pub("", "2");
  second.props.topic_alias = 3;
  p.send(second);
  auto got = s.publishes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].topic, "long/topic/name");
  auto bad = pub("x", "3");
  bad.props.topic_alias = static_cast<std::uint16_t>(limits.topic_alias_maximum + 1);
  p.send(bad);
  EXPECT_TRUE(p.l->closed);
  EXPECT_EQ(std::get<disconnect_packet>(p.packets().at(0)).reason, reason_code::topic_alias_invalid);
}

TEST_F(BrokerTest, SlowReaderLosesQos0InsteadOfGrowingWithoutBound) {
  auto s = connect("slow");
  s.send(sub("t", qos::at_most_once));
  s.packets();
  s.l->pending = limits.max_pending_bytes + 1;  // the transport says it has that much unsent
  auto p = connect("pub");
  p.send(pub("t", "x"));
  EXPECT_TRUE(s.publishes().empty());
  EXPECT_EQ(b->stats().dropped, 1u);
}

TEST_F(BrokerTest, AcksWaitForTheStoreAndKeepTheirOrder) {
  use_store = true;
  make_broker();
  auto p = connect("pub");
  p.packets();
  p.send(pub("r", "retained", qos::at_least_once, 1, true));  // a retained write: must be durable first
  p.send(pub("plain", "x", qos::at_least_once, 2));            // no write, but after #1
  EXPECT_TRUE(p.packets().empty());
  store.release_all();
  run_posted();
  auto got = p.packets();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(std::get<puback_packet>(got[0]).packet_id, 1);
  EXPECT_EQ(std::get<puback_packet>(got[1]).packet_id, 2);
  EXPECT_EQ(store.retained.size(), 1u);
}

TEST_F(BrokerTest, SessionsAndRetainedMessagesSurviveARestart) {
  use_store = true;
  make_broker();
  auto s = connect("dev", protocol_level_3_1_1, false);
  s.send(sub("cmd/#", qos::at_least_once));
  store.release_all();
  run_posted();
  b->closed(s.id);
  auto p = connect("pub");
  p.send(pub("cmd/1", "queued", qos::at_least_once, 1));
  p.send(pub("state", "retained", qos::at_least_once, 2, true));
  store.release_all();
  run_posted();
  EXPECT_EQ(store.messages.size(), 1u);

  make_broker();  // a new process on the same store
  ASSERT_TRUE(b->restore());
  auto again = connect("dev", protocol_level_3_1_1, false);
  auto got = again.packets();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(std::get<connack_packet>(got[0]).session_present);
  auto& m = std::get<publish_packet>(got[1]);
  EXPECT_EQ(text(m.payload), "queued");
  again.send(puback_packet{m.packet_id, reason_code::success, {}});
  EXPECT_TRUE(store.messages.empty());  // acknowledged: gone from the store
  again.send(sub("state"));
  EXPECT_TRUE(again.packets().empty());  // a persistent session's SUBACK waits for its subscription to be durable
  store.release_all();
  run_posted();
  auto r = again.publishes();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(text(r[0].payload), "retained");
}

TEST_F(BrokerTest, IdentityChangeClosesConnectionsWhoseIdentityIsGone) {
  auto c = connect("dev");
  auto other = connect("other");
  c.packets();
  auth.unknown_clients.insert("dev");
  b->identity_changed("cert-dev");
  run_posted();
  EXPECT_TRUE(c.l->closed);
  EXPECT_FALSE(other.l->closed);
}

TEST_F(BrokerTest, MalformedPacketsCloseTheConnection) {
  auto c = connect("dev", protocol_level_5);
  c.packets();
  const std::uint8_t garbage[] = {0x30, 0x05, 0x00, 0x09, 'a', 'b', 'c'};  // topic length runs past the packet
  b->received(c.id, garbage);
  EXPECT_TRUE(c.l->closed);
  auto got = c.packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<disconnect_packet>(got[0]).reason, reason_code::malformed_packet);

  auto w = connect("wild");
  w.send(pub("a/+", "x"));  // the codec refuses wildcards in topic names
  EXPECT_TRUE(w.l->closed);
}

}  // namespace
}  // namespace airfleet::mqtt
