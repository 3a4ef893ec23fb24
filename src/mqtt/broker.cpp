#include "mqtt/broker.hpp"

#include "core/crypto.hpp"
#include "storage/mqtt_store.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace airfleet::mqtt {

namespace json = boost::json;

namespace {

// A deque that costs one pointer until something is put in it (libstdc++'s
// std::deque allocates ~600 bytes up front, per idle connection and session).
template <class T>
class lazy_deque {
 public:
  bool empty() const { return !d_ || d_->empty(); }
  std::size_t size() const { return d_ ? d_->size() : 0; }
  void push_back(T v) {
    if (!d_) d_ = std::make_unique<std::deque<T>>();
    d_->push_back(std::move(v));
  }
  T& front() { return d_->front(); }
  void pop_front() {
    d_->pop_front();
    if (d_->empty()) d_.reset();
  }
  auto begin() { return d_ ? d_->begin() : typename std::deque<T>::iterator(); }
  auto end() { return d_ ? d_->end() : typename std::deque<T>::iterator(); }

 private:
  std::unique_ptr<std::deque<T>> d_;
};

}  // namespace

struct broker::message {
  std::string topic;
  bytes payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  properties props;               // what is forwarded: format, content type, response topic, correlation, user props
  std::int64_t expires_at_ms = 0;  // 0: never
  std::string origin;             // the publishing client id; "" for the server
};

struct broker::sub_options {
  session* owner = nullptr;
  mqtt::qos qos = qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  mqtt::retain_handling handling = retain_handling::send_on_subscribe;
  std::uint32_t identifier = 0;
  const std::string* key = nullptr;  // the filter as subscribed ("$share/g/f" for shared), owned by session::subs
};

namespace {

std::int64_t now_ms(const core::clock& clock) { return core::to_epoch_millis(clock.now()); }

const char* presence_reason(reason_code code) {
  switch (code) {
    case reason_code::session_taken_over: return "DUPLICATE_CLIENTID";
    case reason_code::keep_alive_timeout: return "MQTT_KEEP_ALIVE_TIMEOUT";
    case reason_code::not_authorized: return "AUTH_ERROR";
    case reason_code::server_shutting_down: return "SERVER_INITIATED_DISCONNECT";
    case reason_code::administrative_action: return "SERVER_INITIATED_DISCONNECT";
    case reason_code::unspecified_error:
    case reason_code::implementation_specific_error:
    case reason_code::server_unavailable:
    case reason_code::server_busy: return "SERVER_ERROR";
    default: return "CLIENT_ERROR";  // the client broke the protocol or a limit
  }
}

}  // namespace

struct broker::session {
  struct item {
    message_ptr m;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    std::vector<std::uint32_t> identifiers;
    std::int64_t seq = 0;  // its row in the store's queue, 0 when not stored
  };
  struct in_flight {
    item it;
    bool released = false;  // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
  };

  std::string client_id;
  std::uint32_t expiry = 0;  // seconds the session outlives its connection
  std::uint8_t level = protocol_level_3_1_1;
  std::map<std::string, sub_options> subs;  // by filter as subscribed
  lazy_deque<item> queue;
  std::map<std::uint16_t, in_flight> inflight;
  std::set<std::uint16_t> incoming_qos2;  // received, PUBREC sent, waiting for PUBREL
  std::uint16_t next_id = 1;
  connection* conn = nullptr;
  std::int64_t ended_ms = 0;
  bool stored = false;
  // A will waiting for its delay, and the authority that judges it.
  std::optional<message_ptr> will;
  std::shared_ptr<access> will_access;
  std::int64_t will_at_ms = 0;
  // Routing scratch: the route that last touched this session and where its delivery is.
  std::uint64_t route_epoch = 0;
  std::size_t route_slot = 0;

  std::uint16_t take_id() {
    for (int tries = 0; tries < 65536; ++tries) {
      std::uint16_t id = next_id++;
      if (next_id == 0) next_id = 1;
      if (id != 0 && !inflight.count(id)) return id;
    }
    return 0;
  }
};

struct broker::connection {
  enum class state { awaiting_connect, authenticating, connected, closed };
  connection_id id = 0;
  std::shared_ptr<link> l;
  peer who;
  state st = state::awaiting_connect;
  frame_reader reader;
  codec_limits codec;
  std::uint8_t level = protocol_level_3_1_1;
  std::int64_t opened_ms = 0;
  std::int64_t last_rx_ms = 0;
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::string session_identifier;  // one per network connection, for lifecycle events
  std::uint64_t presence_version = 0;
  std::shared_ptr<access> acc;
  std::unordered_map<std::string, bool> decisions;  // "p:topic" / "r:topic" -> allowed
  std::optional<connect_packet> pending_connect;
  session* s = nullptr;
  std::uint16_t send_window = 0;
  std::uint32_t peer_max_packet = 0;  // 0: no limit
  std::unordered_map<std::uint16_t, std::string> aliases;
  std::optional<will_message> will;
  bool clean_disconnect = false;
  struct held_ack {
    bytes data;
    bool ready = false;
    std::function<void()> after;
  };
  lazy_deque<held_ack> held;
  std::size_t waiting_acks = 0;  // held acks not yet ready

  explicit connection(const codec_limits& limits) : reader(limits), codec(limits) {}
  bool v5() const { return level == protocol_level_5; }
};

broker::broker(broker_limits limits, authenticator& auth, const core::clock& clock,
               std::function<void(std::function<void()>)> post, storage::mqtt_store* store)
    : limits_(limits),
      auth_(auth),
      clock_(clock),
      post_(std::move(post)),
      store_(store),
      tree_(new subscription_tree<sub_options>()) {}

broker::~broker() { delete tree_; }

broker_stats broker::stats() const {
  auto s = stats_;
  s.connections = connections_.size();
  s.sessions = sessions_.size();
  s.subscriptions = tree_->size();
  s.retained = retained_.size();
  return s;
}

// ---------------------------------------------------------------------------
// persistence encodings

namespace {

// What a subscriber gets of a publish's properties (MQTT 5 section 3.3.2.3):
// the rest (expiry, alias, subscription identifiers) is per delivery.
properties forwarded(properties&& p) {
  properties out;
  out.payload_format_indicator = p.payload_format_indicator;
  out.content_type = std::move(p.content_type);
  out.response_topic = std::move(p.response_topic);
  out.correlation_data = std::move(p.correlation_data);
  out.user_properties = std::move(p.user_properties);
  return out;
}

}  // namespace

// A stored message: 8 bytes of expiry (epoch ms, big-endian, 0 = never), then
// the message as an MQTT 5 PUBLISH with the QoS and retain flag it is to be
// delivered with and its subscription identifiers.
std::string broker::stored_form(const message& m, qos q, bool retain, const std::vector<std::uint32_t>& ids) {
  publish_packet p;
  p.topic = m.topic;
  p.payload = m.payload;
  p.qos = q;
  p.retain = retain;
  p.packet_id = q == qos::at_most_once ? 0 : 1;
  p.props = m.props;
  p.props.subscription_identifiers = ids;
  std::string out(8, '\0');
  auto at = static_cast<std::uint64_t>(m.expires_at_ms);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((at >> (56 - 8 * i)) & 0xFF);
  auto body = encode(p, protocol_level_5);
  out.append(body.begin(), body.end());
  return out;
}

broker::message_ptr broker::from_stored(const std::string& data, std::vector<std::uint32_t>* ids) {
  if (data.size() < 9) return nullptr;
  std::uint64_t at = 0;
  for (int i = 0; i < 8; ++i) at = (at << 8) | static_cast<unsigned char>(data[i]);
  codec_limits limits;
  limits.max_packet_size = data.size();
  frame_reader reader(limits);
  reader.append({reinterpret_cast<const std::uint8_t*>(data.data()) + 8, data.size() - 8});
  auto frame = reader.next();
  if (!frame || !*frame) return nullptr;
  auto decoded = decode(**frame, protocol_level_5, limits);
  if (!decoded || !std::holds_alternative<publish_packet>(*decoded)) return nullptr;
  auto& p = std::get<publish_packet>(*decoded);
  auto m = std::make_shared<message>();
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->expires_at_ms = static_cast<std::int64_t>(at);
  if (ids) *ids = std::move(p.props.subscription_identifiers);
  m->props = forwarded(std::move(p.props));
  return m;
}

bool broker::persistent(const session& s) const { return s.expiry > 0; }

void broker::save_session(session& s) {
  if (!store_ || !persistent(s)) return;
  json::array subs;
  for (const auto& [filter, o] : s.subs)
    subs.push_back(json::object{{"f", filter},
                                {"q", static_cast<int>(o.qos)},
                                {"nl", o.no_local},
                                {"rap", o.retain_as_published},
                                {"rh", static_cast<int>(o.handling)},
                                {"id", o.identifier}});
  json::object state{{"expiry", s.expiry}, {"level", s.level}, {"subs", std::move(subs)}};
  store_->put_session(s.client_id, json::serialize(state));
  s.stored = true;
}

// Writes every message the session still has to deliver (queued or sent but
// unacknowledged) that is not stored yet; called when it goes offline.
void broker::persist_queue(session& s) {
  if (!store_ || !persistent(s)) return;
  auto store_item = [&](session::item& it) {
    if (it.seq != 0) return;
    it.seq = next_store_seq_++;
    store_->put_message(s.client_id, it.seq, stored_form(*it.m, it.qos, it.retain, it.identifiers));
  };
  for (auto& [id, f] : s.inflight) store_item(f.it);
  for (auto& it : s.queue) store_item(it);
}

void broker::flush_store(std::function<void()> then) {
  store_->flush([this, then = std::move(then)](bool ok) mutable {
    if (!ok) spdlog::error("mqtt: a change could not be made durable; its acknowledgement is sent anyway");
    post_(std::move(then));
  });
}

core::result<void> broker::restore() {
  if (!store_) return {};
  auto snapshot = store_->load();
  if (!snapshot) return snapshot.error();
  auto now = now_ms(clock_);
  for (const auto& row : snapshot->sessions) {
    boost::system::error_code ec;
    auto v = json::parse(row.state, ec);
    if (ec || !v.is_object()) {
      spdlog::warn("mqtt: skipping unreadable stored session {}", row.client_id);
      continue;
    }
    auto& o = v.as_object();
    auto s = std::make_unique<session>();
    s->client_id = row.client_id;
    s->expiry = static_cast<std::uint32_t>(o.at("expiry").to_number<std::int64_t>());
    s->level = static_cast<std::uint8_t>(o.at("level").to_number<int>());
    s->ended_ms = now;
    s->stored = true;
    for (const auto& sv : o.at("subs").as_array()) {
      const auto& so = sv.as_object();
      std::string filter(so.at("f").as_string());
      sub_options opts;
      opts.owner = s.get();
      opts.qos = static_cast<mqtt::qos>(so.at("q").to_number<int>());
      opts.no_local = so.at("nl").as_bool();
      opts.retain_as_published = so.at("rap").as_bool();
      opts.handling = static_cast<retain_handling>(so.at("rh").to_number<int>());
      opts.identifier = static_cast<std::uint32_t>(so.at("id").to_number<std::int64_t>());
      auto [it, fresh] = s->subs.emplace(filter, opts);
      it->second.key = &it->first;
      if (auto shared = parse_shared(filter)) tree_->insert(shared->filter, s->client_id, it->second, shared->group);
      else tree_->insert(filter, s->client_id, it->second);
    }
    sessions_.emplace(row.client_id, std::move(s));
  }
  for (const auto& row : snapshot->messages) {
    auto s = sessions_.find(row.client_id);
    std::vector<std::uint32_t> ids;
    auto m = from_stored(row.message, &ids);
    if (s == sessions_.end() || !m) continue;
    s->second->queue.push_back({m, m->qos, m->retain, std::move(ids), row.seq});
    next_store_seq_ = std::max(next_store_seq_, row.seq + 1);
  }
  for (const auto& row : snapshot->retained) {
    if (auto m = from_stored(row.message, nullptr)) retained_[m->topic] = m;
  }
  spdlog::info("mqtt: restored {} sessions, {} queued messages, {} retained messages", snapshot->sessions.size(),
               snapshot->messages.size(), snapshot->retained.size());
  return {};
}

// ---------------------------------------------------------------------------
// the transport's calls

broker::connection_id broker::open(std::shared_ptr<link> l, peer who) {
  codec_limits codec;
  codec.max_packet_size = limits_.max_packet_size;
  auto c = std::make_unique<connection>(codec);
  c->id = next_connection_++;
  c->l = std::move(l);
  c->who = std::move(who);
  c->opened_ms = c->last_rx_ms = now_ms(clock_);
  auto id = c->id;
  if (shutting_down_ || connections_.size() >= limits_.max_connections) {
    c->l->close();
    return 0;
  }
  connections_.emplace(id, std::move(c));
  return id;
}

void broker::received(connection_id id, std::span<const std::uint8_t> data) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = *it->second;
  if (c.st == connection::state::closed) return;
  c.last_rx_ms = now_ms(clock_);
  c.reader.append(data);
  process(c);
}

void broker::closed(connection_id id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = *it->second;
  if (c.st == connection::state::connected) {
    presence_event(c, false, c.clean_disconnect ? "CLIENT_INITIATED_DISCONNECT" : "CONNECTION_LOST");
    detach_session(c, !c.clean_disconnect);
  }
  connections_.erase(it);
}

void broker::process(connection& c) {
  while (c.st == connection::state::awaiting_connect || c.st == connection::state::connected) {
    auto frame = c.reader.next();
    if (!frame) {
      disconnect(c, reason_of(frame.error().code), frame.error().message);
      return;
    }
    if (!*frame) return;
    if (c.st == connection::state::awaiting_connect) {
      auto level = connect_protocol_level(**frame);
      if (!level) {
        drop(c, "the first packet is not a CONNECT", false);
        return;
      }
      c.level = *level == protocol_level_5 ? protocol_level_5 : protocol_level_3_1_1;
      auto p = decode(**frame, *level, c.codec);
      if (!p) {
        auto reason = reason_of(p.error().code);
        // A v3.1.1 CONNACK exists only for the return codes 3.1.1 has.
        if (c.v5() || reason == reason_code::unsupported_protocol_version ||
            reason == reason_code::client_identifier_not_valid)
          send(c, connack_packet{false, reason, {}});
        drop(c, "CONNECT refused: " + p.error().message, false);
        return;
      }
      on_connect(c, std::get<connect_packet>(std::move(*p)));
      continue;
    }
    auto p = decode(**frame, c.level, c.codec);
    if (!p) {
      disconnect(c, reason_of(p.error().code), p.error().message);
      return;
    }
    on_packet(c, std::move(*p));
  }
}

void broker::on_packet(connection& c, packet&& p) {
  switch (type_of(p)) {
    case packet_type::publish: return on_publish(c, std::get<publish_packet>(std::move(p)));
    case packet_type::puback: return on_puback(c, std::get<puback_packet>(p).packet_id);
    case packet_type::pubrec: return on_pubrec(c, std::get<pubrec_packet>(p));
    case packet_type::pubrel: return on_pubrel(c, std::get<pubrel_packet>(p).packet_id);
    case packet_type::pubcomp: return on_pubcomp(c, std::get<pubcomp_packet>(p).packet_id);
    case packet_type::subscribe: return on_subscribe(c, std::get<subscribe_packet>(std::move(p)));
    case packet_type::unsubscribe: return on_unsubscribe(c, std::get<unsubscribe_packet>(std::move(p)));
    case packet_type::pingreq: return send(c, pingresp_packet{});
    case packet_type::disconnect: return on_disconnect(c, std::get<disconnect_packet>(p));
    case packet_type::connect: return disconnect(c, reason_code::protocol_error, "a second CONNECT");
    case packet_type::auth:
      return disconnect(c, reason_code::protocol_error, "enhanced authentication is not supported");
    default: return disconnect(c, reason_code::protocol_error, "a packet only a server sends");
  }
}

void broker::on_connect(connection& c, connect_packet&& p) {
  if (p.client_id.empty()) {
    if (!p.clean_start && !c.v5()) {
      send(c, connack_packet{false, reason_code::client_identifier_not_valid, {}});
      return drop(c, "empty client id without clean session", false);
    }
    p.client_id = "airfleet-" + core::random_string(20, "0123456789abcdefghijklmnopqrstuvwxyz");
    if (c.v5()) p.props.assigned_client_identifier = p.client_id;
  }
  if (p.client_id.size() > limits_.max_client_id_length) {
    send(c, connack_packet{false, reason_code::client_identifier_not_valid, {}});
    return drop(c, "client id too long", false);
  }
  if (p.will && !valid_topic_name(p.will->topic, limits_.topics)) {
    send(c, connack_packet{false, c.v5() ? reason_code::topic_name_invalid : reason_code::server_unavailable, {}});
    return drop(c, "invalid will topic", false);
  }
  c.client_id = p.client_id;
  c.st = connection::state::authenticating;
  c.pending_connect = std::move(p);
  auth_.authenticate(c.who, c.client_id, [this, id = c.id](core::result<std::shared_ptr<access>> r) {
    post_([this, id, r = std::move(r)]() mutable { on_authenticated(id, std::move(r)); });
  });
}

void broker::on_authenticated(connection_id id, core::result<std::shared_ptr<access>> result) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  auto& c = *found->second;
  if (c.st != connection::state::authenticating) return;
  auto p = std::move(*c.pending_connect);
  c.pending_connect.reset();
  if (!result) {
    ++stats_.denied;
    send(c, connack_packet{false, reason_code::not_authorized, {}});
    return drop(c, "not authorized: " + result.error().message, false);
  }
  c.acc = std::move(*result);
  if (!c.acc->allowed(action::connect, c.client_id)) {
    ++stats_.denied;
    send(c, connack_packet{false, reason_code::not_authorized, {}});
    return drop(c, "iot:Connect denied for client " + c.client_id + " (" + c.acc->principal() + ")", false);
  }

  // Take over a live connection of the same client id.
  if (auto existing = sessions_.find(c.client_id); existing != sessions_.end() && existing->second->conn) {
    disconnect(*existing->second->conn, reason_code::session_taken_over, "another connection used this client id");
  }

  connack_packet ack;
  std::uint32_t expiry = 0;
  if (c.v5()) {
    expiry = p.props.session_expiry_interval.value_or(0);
    if (expiry > limits_.max_session_expiry) {
      expiry = limits_.max_session_expiry;
      ack.props.session_expiry_interval = expiry;
    }
  } else if (!p.clean_start) {
    expiry = limits_.max_session_expiry;
  }

  session* s = nullptr;
  if (auto existing = sessions_.find(c.client_id); existing != sessions_.end()) {
    if (p.clean_start) {
      end_session(*existing->second);
    } else {
      s = existing->second.get();
      ack.session_present = true;
      s->will.reset();  // reconnected within the will delay: no will
      s->will_access.reset();
    }
  }
  if (!s) {
    auto fresh = std::make_unique<session>();
    fresh->client_id = c.client_id;
    s = fresh.get();
    sessions_.emplace(c.client_id, std::move(fresh));
  }
  bool was_persistent = persistent(*s);
  s->expiry = expiry;
  s->level = c.level;
  s->conn = &c;
  c.s = s;
  c.st = connection::state::connected;
  c.session_identifier = core::random_uuid();
  c.presence_version = ++presence_versions_[c.client_id];
  c.will = std::move(p.will);
  c.keep_alive = p.keep_alive;
  if (c.keep_alive == 0 || c.keep_alive > limits_.max_keep_alive) {
    c.keep_alive = limits_.max_keep_alive;
    if (c.v5()) ack.props.server_keep_alive = c.keep_alive;
  }
  std::uint16_t window = limits_.max_inflight;
  if (c.v5() && p.props.receive_maximum) window = std::min(window, *p.props.receive_maximum);
  c.send_window = window;
  if (c.v5()) {
    c.peer_max_packet = p.props.maximum_packet_size.value_or(0);
    ack.props.receive_maximum = limits_.receive_maximum;
    ack.props.maximum_packet_size = static_cast<std::uint32_t>(limits_.max_packet_size);
    ack.props.topic_alias_maximum = limits_.topic_alias_maximum;
    if (p.props.assigned_client_identifier) ack.props.assigned_client_identifier = p.props.assigned_client_identifier;
  }
  send(c, ack);
  if (persistent(*s)) save_session(*s);
  else if (was_persistent && s->stored && store_) {
    store_->delete_session(s->client_id);
    s->stored = false;
  }
  presence_event(c, true, "");

  // Resume: unacknowledged deliveries first (DUP), then the queue.
  for (auto& [pid, f] : s->inflight) {
    if (f.released) send(c, pubrel_packet{pid, reason_code::success, {}});
    else send_publish(c, *f.it.m, f.it.qos, pid, f.it.retain, true, f.it.identifiers);
  }
  pump(*s);
  process(c);  // packets that arrived behind the CONNECT
}

bool broker::allowed(connection& c, action a, std::string_view name) {
  if (!c.acc) return false;
  if (a != action::publish && a != action::receive) return c.acc->allowed(a, name);
  std::string key;
  key.reserve(name.size() + 2);
  key.push_back(a == action::publish ? 'p' : 'r');
  key.push_back(':');
  key.append(name);
  if (auto it = c.decisions.find(key); it != c.decisions.end()) return it->second;
  bool ok = c.acc->allowed(a, name);
  if (c.decisions.size() >= 1024) c.decisions.clear();
  c.decisions.emplace(std::move(key), ok);
  return ok;
}

void broker::on_publish(connection& c, publish_packet&& p) {
  ++stats_.messages_in;
  if (p.props.topic_alias) {
    auto alias = *p.props.topic_alias;
    if (alias == 0 || alias > limits_.topic_alias_maximum)
      return disconnect(c, reason_code::topic_alias_invalid, "topic alias out of range");
    if (!p.topic.empty()) {
      c.aliases[alias] = p.topic;
    } else {
      auto known = c.aliases.find(alias);
      if (known == c.aliases.end()) return disconnect(c, reason_code::protocol_error, "unknown topic alias");
      p.topic = known->second;
    }
    p.props.topic_alias.reset();
  }
  if (!valid_topic_name(p.topic, limits_.topics))
    return disconnect(c, reason_code::topic_name_invalid, "invalid topic name");
  if (p.qos == qos::exactly_once) {
    if (c.s->incoming_qos2.count(p.packet_id)) {
      // The same message again before PUBREL: acknowledge, do not route twice.
      return send_ack(c, pubrec_packet{p.packet_id, reason_code::success, {}}, false, nullptr);
    }
    if (c.s->incoming_qos2.size() >= limits_.receive_maximum)
      return disconnect(c, reason_code::receive_maximum_exceeded, "more QoS 2 publishes in flight than allowed");
  }
  if (!allowed(c, action::publish, p.topic)) {
    ++stats_.denied;
    return disconnect(c, reason_code::not_authorized, "iot:Publish denied on " + p.topic);
  }
  if (p.topic.front() == '$') {
    const service_handler* handler = nullptr;
    for (const auto& [filter, h] : services_)
      if (topic_matches(filter, p.topic)) handler = &h;
    if (!handler) {
      ++stats_.denied;
      return disconnect(c, reason_code::not_authorized, "clients may not publish to reserved topic " + p.topic);
    }
    (*handler)(service_request{c.client_id, c.acc->principal(), p.topic, std::move(p.payload), c.level});
    if (p.qos == qos::at_least_once) send_ack(c, puback_packet{p.packet_id, reason_code::success, {}}, false, nullptr);
    if (p.qos == qos::exactly_once) {
      c.s->incoming_qos2.insert(p.packet_id);
      send_ack(c, pubrec_packet{p.packet_id, reason_code::success, {}}, false, nullptr);
    }
    return;
  }

  auto m = std::make_shared<message>();
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->origin = c.client_id;
  if (p.props.message_expiry_interval)
    m->expires_at_ms = now_ms(clock_) + static_cast<std::int64_t>(*p.props.message_expiry_interval) * 1000;
  if (c.v5()) m->props = forwarded(std::move(p.props));
  bool durable = false;
  if (m->retain) {
    set_retained(m);
    durable = store_ != nullptr;
  }
  auto routed = route(m, &c.client_id);
  durable = durable || routed.stored;  // queued for an offline persistent session
  auto reason = routed.matched || !c.v5() ? reason_code::success : reason_code::no_matching_subscribers;
  if (p.qos == qos::at_least_once) send_ack(c, puback_packet{p.packet_id, reason, {}}, durable, nullptr);
  else if (p.qos == qos::exactly_once) {
    c.s->incoming_qos2.insert(p.packet_id);
    send_ack(c, pubrec_packet{p.packet_id, reason, {}}, durable, nullptr);
  }
}

void broker::set_retained(const message_ptr& m) {
  if (m->payload.empty()) {
    if (retained_.erase(m->topic) && store_) store_->delete_retained(m->topic);
    return;
  }
  if (!retained_.count(m->topic) && retained_.size() >= limits_.max_retained) {
    ++stats_.dropped;
    spdlog::warn("mqtt: retained message on {} not kept: {} retained topics is the limit", m->topic,
                 limits_.max_retained);
    return;
  }
  retained_[m->topic] = m;
  if (store_) store_->put_retained(m->topic, stored_form(*m, m->qos, true, {}));
}

broker::route_result broker::route(const message_ptr& m, const std::string* origin) {
  struct target {
    session* s;
    mqtt::qos qos;
    bool retain;
    std::vector<std::uint32_t> ids;
  };
  static thread_local std::vector<target> targets;
  static thread_local std::vector<std::pair<const std::string*, const sub_options*>> shared;
  targets.clear();
  shared.clear();
  auto epoch = ++route_epoch_;
  auto add = [&](const sub_options& o) {
    session* s = o.owner;
    if (o.no_local && origin && s->client_id == *origin) return;
    bool retain_flag = o.retain_as_published && m->retain;
    if (s->route_epoch == epoch) {
      auto& t = targets[s->route_slot];
      t.qos = std::max(t.qos, o.qos);
      t.retain = t.retain || retain_flag;
      if (o.identifier) t.ids.push_back(o.identifier);
      return;
    }
    s->route_epoch = epoch;
    s->route_slot = targets.size();
    targets.push_back({s, o.qos, retain_flag, {}});
    if (o.identifier) targets.back().ids.push_back(o.identifier);
  };
  tree_->match(m->topic, [&](const std::string&, const sub_options& o, const std::string& group) {
    if (group.empty()) add(o);
    else shared.emplace_back(o.key, &o);
  });
  if (!shared.empty()) {
    // One member per shared subscription: round robin, connected members first.
    std::sort(shared.begin(), shared.end(), [](const auto& a, const auto& b) {
      if (*a.first != *b.first) return *a.first < *b.first;
      return a.second->owner->client_id < b.second->owner->client_id;
    });
    for (std::size_t i = 0; i < shared.size();) {
      std::size_t j = i;
      while (j < shared.size() && *shared[j].first == *shared[i].first) ++j;
      auto& cursor = share_cursor_[*shared[i].first];
      std::size_t n = j - i;
      const sub_options* pick = nullptr;
      for (std::size_t k = 0; k < n && !pick; ++k) {
        const auto* o = shared[i + (cursor + k) % n].second;
        if (o->owner->conn) {
          pick = o;
          cursor = (cursor + k + 1) % n;
        }
      }
      if (!pick) {
        pick = shared[i + cursor % n].second;
        cursor = (cursor + 1) % n;
      }
      add(*pick);
      i = j;
    }
  }
  route_result out{!targets.empty(), false};
  for (auto& t : targets) out.stored = deliver(*t.s, m, t.qos, t.retain, t.ids) || out.stored;
  return out;
}

bool broker::deliver(session& s, const message_ptr& m, qos granted, bool retain_flag,
                     const std::vector<std::uint32_t>& ids) {
  auto q = std::min(m->qos, granted);
  if (s.conn && s.conn->st == connection::state::connected) {
    auto& c = *s.conn;
    if (!allowed(c, action::receive, m->topic)) {
      ++stats_.denied;
      return false;
    }
    if (q == qos::at_most_once) {
      if (c.l->pending_bytes() > limits_.max_pending_bytes) ++stats_.dropped;
      else send_publish(c, *m, q, 0, retain_flag, false, ids);
      return false;
    }
    if (s.queue.empty() && s.inflight.size() < c.send_window) {
      auto id = s.take_id();
      auto& f = s.inflight[id];
      f.it = {m, q, retain_flag, ids, 0};
      send_publish(c, *m, q, id, retain_flag, false, ids);
    } else if (s.queue.size() >= limits_.max_queued_messages) {
      ++stats_.dropped;
    } else {
      s.queue.push_back({m, q, retain_flag, ids, 0});
    }
    return false;
  }
  if (q == qos::at_most_once || !persistent(s)) return false;
  if (s.queue.size() >= limits_.max_queued_messages) {
    ++stats_.dropped;
    return false;
  }
  s.queue.push_back({m, q, retain_flag, ids, 0});
  if (!store_) return false;
  persist_queue(s);
  return true;
}

void broker::pump(session& s) {
  if (!s.conn || s.conn->st != connection::state::connected) return;
  auto& c = *s.conn;
  auto now = now_ms(clock_);
  std::vector<std::int64_t> forgotten;
  while (!s.queue.empty() && s.inflight.size() < c.send_window) {
    auto it = std::move(s.queue.front());
    s.queue.pop_front();
    if ((it.m->expires_at_ms && it.m->expires_at_ms <= now) || !allowed(c, action::receive, it.m->topic)) {
      ++stats_.dropped;
      if (it.seq) forgotten.push_back(it.seq);
      continue;
    }
    if (it.qos == qos::at_most_once) {
      send_publish(c, *it.m, it.qos, 0, it.retain, false, it.identifiers);
      if (it.seq) forgotten.push_back(it.seq);
      continue;
    }
    auto id = s.take_id();
    send_publish(c, *it.m, it.qos, id, it.retain, false, it.identifiers);
    s.inflight[id].it = std::move(it);
  }
  if (!forgotten.empty() && store_) store_->delete_messages(s.client_id, std::move(forgotten));
}

void broker::send_publish(connection& c, const message& m, qos q, std::uint16_t packet_id, bool retain_flag, bool dup,
                          const std::vector<std::uint32_t>& ids) {
  static thread_local publish_packet p;
  static thread_local bytes out;
  p.dup = dup;
  p.qos = q;
  p.retain = retain_flag;
  p.topic.assign(m.topic);
  p.packet_id = packet_id;
  p.payload.assign(m.payload.begin(), m.payload.end());
  if (c.v5()) {
    p.props = m.props;
    p.props.subscription_identifiers = ids;
    if (m.expires_at_ms) {
      auto left = (m.expires_at_ms - now_ms(clock_) + 999) / 1000;
      p.props.message_expiry_interval = static_cast<std::uint32_t>(std::max<std::int64_t>(left, 1));
    }
  } else if (!p.props.empty()) {
    p.props = {};
  }
  out.clear();
  encode(p, c.level, out);
  if (c.peer_max_packet && out.size() > c.peer_max_packet) {
    ++stats_.dropped;  // the client said it cannot take it: the message is discarded for it
    return;
  }
  ++stats_.messages_out;
  c.l->send(out);
}

void broker::on_puback(connection& c, std::uint16_t id) {
  auto& s = *c.s;
  auto it = s.inflight.find(id);
  if (it == s.inflight.end() || it->second.it.qos != qos::at_least_once) return;  // unknown: ignored
  if (it->second.it.seq && store_) store_->delete_messages(s.client_id, {it->second.it.seq});
  s.inflight.erase(it);
  pump(s);
}

void broker::on_pubrec(connection& c, const pubrec_packet& p) {
  auto& s = *c.s;
  auto it = s.inflight.find(p.packet_id);
  if (it == s.inflight.end() || it->second.it.qos != qos::exactly_once) {
    send(c, pubrel_packet{p.packet_id, c.v5() ? reason_code::packet_identifier_not_found : reason_code::success, {}});
    return;
  }
  if (is_failure(p.reason)) {  // the receiver refused it: the delivery ends here
    if (it->second.it.seq && store_) store_->delete_messages(s.client_id, {it->second.it.seq});
    s.inflight.erase(it);
    return pump(s);
  }
  it->second.released = true;
  send(c, pubrel_packet{p.packet_id, reason_code::success, {}});
}

void broker::on_pubcomp(connection& c, std::uint16_t id) {
  auto& s = *c.s;
  auto it = s.inflight.find(id);
  if (it == s.inflight.end() || !it->second.released) return;
  if (it->second.it.seq && store_) store_->delete_messages(s.client_id, {it->second.it.seq});
  s.inflight.erase(it);
  pump(s);
}

void broker::on_pubrel(connection& c, std::uint16_t id) {
  bool known = c.s->incoming_qos2.erase(id) > 0;
  auto reason = known || !c.v5() ? reason_code::success : reason_code::packet_identifier_not_found;
  send_ack(c, pubcomp_packet{id, reason, {}}, false, nullptr);
}

void broker::on_subscribe(connection& c, subscribe_packet&& p) {
  auto& s = *c.s;
  std::uint32_t identifier = p.props.subscription_identifiers.empty() ? 0 : p.props.subscription_identifiers.front();
  suback_packet ack;
  ack.packet_id = p.packet_id;
  std::vector<std::string> granted;
  std::vector<std::pair<const std::string*, bool>> retained_for;  // (filter key, is new)
  bool changed = false;
  for (auto& sub : p.subscriptions) {
    auto shared = parse_shared(sub.filter);
    if (shared && sub.no_local) return disconnect(c, reason_code::protocol_error, "no local on a shared subscription");
    const std::string& plain = shared ? shared->filter : sub.filter;
    bool valid = valid_topic_filter(sub.filter, limits_.topics) && (!shared || valid_topic_filter(plain, limits_.topics));
    if (sub.filter.rfind("$share/", 0) == 0 && !shared) valid = false;
    if (!valid) {
      ack.reasons.push_back(reason_code::topic_filter_invalid);
      continue;
    }
    if (!allowed(c, action::subscribe, sub.filter)) {
      ++stats_.denied;
      ack.reasons.push_back(reason_code::not_authorized);
      continue;
    }
    bool fresh = !s.subs.count(sub.filter);
    if (fresh && s.subs.size() >= limits_.max_subscriptions) {
      ack.reasons.push_back(reason_code::quota_exceeded);
      continue;
    }
    sub_options o;
    o.owner = &s;
    o.qos = sub.qos;
    o.no_local = sub.no_local;
    o.retain_as_published = sub.retain_as_published;
    o.handling = sub.retain_handling;
    o.identifier = identifier;
    auto [it, inserted] = s.subs.insert_or_assign(sub.filter, o);
    it->second.key = &it->first;
    if (shared) tree_->insert(shared->filter, s.client_id, it->second, shared->group);
    else tree_->insert(sub.filter, s.client_id, it->second);
    changed = true;
    ack.reasons.push_back(static_cast<reason_code>(sub.qos));
    granted.push_back(sub.filter);
    if (!shared) retained_for.emplace_back(&it->first, inserted);
  }
  bool durable = changed && persistent(s) && store_;
  if (durable) save_session(s);
  send_ack(c, ack, durable, [this, id = c.id, retained_for]() {
    auto found = connections_.find(id);
    if (found == connections_.end() || !found->second->s) return;
    auto& conn = *found->second;
    for (const auto& [key, fresh] : retained_for) {
      auto so = conn.s->subs.find(*key);
      if (so == conn.s->subs.end()) continue;
      const auto& o = so->second;
      if (o.handling == retain_handling::do_not_send || (o.handling == retain_handling::send_if_new_subscription && !fresh))
        continue;
      send_retained(conn, *key, o);
    }
  });
  if (!granted.empty()) subscription_event(c, true, granted);
}

void broker::send_retained(connection& c, const std::string& filter, const sub_options& o) {
  auto now = now_ms(clock_);
  std::vector<std::string> expired;
  for (const auto& [topic, m] : retained_) {
    if (!topic_matches(filter, topic)) continue;
    if (m->expires_at_ms && m->expires_at_ms <= now) {
      expired.push_back(topic);
      continue;
    }
    // Retained messages sent because of a subscription keep their retain flag.
    std::vector<std::uint32_t> ids;
    if (o.identifier) ids.push_back(o.identifier);
    deliver(*c.s, m, o.qos, true, ids);  // to its own, connected session: nothing is stored
  }
  for (const auto& t : expired) {
    retained_.erase(t);
    if (store_) store_->delete_retained(t);
  }
}

void broker::on_unsubscribe(connection& c, unsubscribe_packet&& p) {
  auto& s = *c.s;
  unsuback_packet ack;
  ack.packet_id = p.packet_id;
  std::vector<std::string> removed;
  for (const auto& filter : p.filters) {
    auto it = s.subs.find(filter);
    if (it == s.subs.end()) {
      ack.reasons.push_back(reason_code::no_subscription_existed);
      continue;
    }
    if (auto shared = parse_shared(filter)) tree_->erase(shared->filter, s.client_id, shared->group);
    else tree_->erase(filter, s.client_id);
    s.subs.erase(it);
    ack.reasons.push_back(reason_code::success);
    removed.push_back(filter);
  }
  if (!c.v5()) ack.reasons.clear();
  bool durable = !removed.empty() && persistent(s) && store_;
  if (durable) save_session(s);
  send_ack(c, ack, durable, nullptr);
  if (!removed.empty()) subscription_event(c, false, removed);
}

void broker::on_disconnect(connection& c, const disconnect_packet& p) {
  if (c.v5() && p.props.session_expiry_interval) {
    if (c.s->expiry == 0 && *p.props.session_expiry_interval != 0)
      return disconnect(c, reason_code::protocol_error, "session expiry set at DISCONNECT after 0 at CONNECT");
    c.s->expiry = std::min(*p.props.session_expiry_interval, limits_.max_session_expiry);
  }
  bool with_will = c.v5() && p.reason == reason_code::disconnect_with_will_message;
  c.clean_disconnect = true;
  presence_event(c, false, "CLIENT_INITIATED_DISCONNECT");
  detach_session(c, with_will);
  c.st = connection::state::closed;
  c.l->close();
}

// ---------------------------------------------------------------------------
// sending, acks, ends

void broker::send(connection& c, const packet& p) {
  static thread_local bytes out;
  out.clear();
  encode(p, c.level, out);
  c.l->send(out);
}

void broker::send_ack(connection& c, const packet& p, bool wait_for_store, std::function<void()> after) {
  if (!wait_for_store && c.held.empty()) {
    send(c, p);
    if (after) after();
    return;
  }
  connection::held_ack h;
  encode(p, c.level, h.data);
  h.ready = !wait_for_store;
  h.after = std::move(after);
  c.held.push_back(std::move(h));
  if (!wait_for_store) return;
  ++c.waiting_acks;
  flush_store([this, id = c.id] {
    auto found = connections_.find(id);
    if (found == connections_.end()) return;
    auto& conn = *found->second;
    for (auto& h : conn.held)
      if (!h.ready) {
        h.ready = true;
        --conn.waiting_acks;
        break;
      }
    while (!conn.held.empty() && conn.held.front().ready) {
      auto h = std::move(conn.held.front());
      conn.held.pop_front();
      if (conn.st != connection::state::connected) continue;
      conn.l->send(h.data);
      if (h.after) h.after();
    }
  });
}

void broker::disconnect(connection& c, reason_code reason, const std::string& why, bool will) {
  if (c.st == connection::state::closed) return;
  spdlog::debug("mqtt: closing connection of '{}' ({}): {}", c.client_id, to_string(reason), why);
  if (c.v5() && (c.st == connection::state::connected || c.st == connection::state::awaiting_connect)) {
    disconnect_packet d;
    d.reason = reason;
    if (c.st == connection::state::connected) d.props.reason_string = why.substr(0, 200);
    if (c.st == connection::state::connected) send(c, d);
  }
  if (c.st == connection::state::connected) {
    presence_event(c, false, presence_reason(reason));
    detach_session(c, will);
  }
  c.st = connection::state::closed;
  c.l->close();
}

void broker::drop(connection& c, const std::string& why, bool will) {
  spdlog::debug("mqtt: dropping connection from {}: {}", c.who.address, why);
  if (c.st == connection::state::connected) {
    presence_event(c, false, "SERVER_INITIATED_DISCONNECT");
    detach_session(c, will);
  }
  c.st = connection::state::closed;
  c.l->close();
}

void broker::detach_session(connection& c, bool with_will) {
  session* s = c.s;
  if (!s) return;
  c.s = nullptr;
  s->conn = nullptr;
  s->ended_ms = now_ms(clock_);
  if (with_will && c.will && !shutting_down_) {
    auto m = std::make_shared<message>();
    m->topic = c.will->topic;
    m->payload = c.will->payload;
    m->qos = c.will->qos;
    m->retain = c.will->retain;
    m->origin = c.client_id;
    const auto& wp = c.will->props;
    m->props = forwarded(properties(wp));
    if (wp.message_expiry_interval) m->expires_at_ms = s->ended_ms + std::int64_t{*wp.message_expiry_interval} * 1000;
    s->will = m;
    s->will_access = c.acc;
    s->will_at_ms = s->ended_ms + std::int64_t{wp.will_delay_interval.value_or(0)} * 1000;
    if (s->will_at_ms <= s->ended_ms || !persistent(*s)) publish_will(*s);
  }
  if (!persistent(*s)) {
    end_session(*s);
    return;
  }
  persist_queue(*s);
  save_session(*s);
}

void broker::publish_will(session& s) {
  if (!s.will) return;
  auto m = *s.will;
  auto acc = s.will_access;
  s.will.reset();
  s.will_access.reset();
  if (m->topic.front() == '$' || !acc || !acc->allowed(action::publish, m->topic)) {
    ++stats_.denied;
    return;
  }
  if (m->retain) set_retained(m);
  route(m, &s.client_id);
}

void broker::end_session(session& s) {
  if (s.will) publish_will(s);
  for (const auto& [filter, o] : s.subs) {
    if (auto shared = parse_shared(filter)) tree_->erase(shared->filter, s.client_id, shared->group);
    else tree_->erase(filter, s.client_id);
  }
  if (s.stored && store_) store_->delete_session(s.client_id);
  if (s.conn) s.conn->s = nullptr;
  sessions_.erase(s.client_id);  // destroys s
}

void broker::tick() {
  auto now = now_ms(clock_);
  std::vector<connection_id> late;
  for (auto& [id, c] : connections_) {
    if (c->st == connection::state::awaiting_connect && now - c->opened_ms > limits_.connect_timeout.count())
      late.push_back(id);
    else if (c->st == connection::state::connected && c->keep_alive &&
             now - c->last_rx_ms > std::int64_t{c->keep_alive} * 1500)
      late.push_back(id);
  }
  for (auto id : late) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    auto& c = *it->second;
    if (c.st == connection::state::awaiting_connect) drop(c, "no CONNECT in time", false);
    else disconnect(c, reason_code::keep_alive_timeout, "keep-alive timeout");
  }
  std::vector<std::string> expired;
  for (auto& [cid, s] : sessions_) {
    if (s->conn) continue;
    if (s->will && s->will_at_ms <= now) publish_will(*s);
    if (now - s->ended_ms >= std::int64_t{s->expiry} * 1000) expired.push_back(cid);
  }
  for (const auto& cid : expired)
    if (auto it = sessions_.find(cid); it != sessions_.end() && !it->second->conn) end_session(*it->second);
}

// ---------------------------------------------------------------------------
// services, server publishes, identity changes

void broker::register_service(std::string filter, service_handler handler) {
  services_.emplace_back(std::move(filter), std::move(handler));
}

void broker::publish(std::string topic, bytes payload, qos q, bool retain) {
  topic_limits any_length{std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max()};
  if (!valid_topic_name(topic, any_length)) {
    spdlog::warn("mqtt: not publishing to invalid topic name '{}'", topic);
    return;
  }
  auto m = std::make_shared<message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = q;
  m->retain = retain;
  if (retain) set_retained(m);
  route(m, nullptr);
}

void broker::identity_changed(const std::string& subject) {
  for (auto& [id, c] : connections_) {
    if (c->st != connection::state::connected || !c->acc) continue;
    if (!subject.empty() && !c->acc->concerned_by(subject)) continue;
    auth_.authenticate(c->who, c->client_id, [this, id = id](core::result<std::shared_ptr<access>> r) {
      post_([this, id, r = std::move(r)]() mutable {
        auto found = connections_.find(id);
        if (found == connections_.end()) return;
        auto& conn = *found->second;
        if (conn.st != connection::state::connected) return;
        if (!r) {
          ++stats_.denied;
          return disconnect(conn, reason_code::not_authorized, "identity no longer valid: " + r.error().message);
        }
        conn.acc = std::move(*r);
        conn.decisions.clear();
        if (!conn.acc->allowed(action::connect, conn.client_id))
          disconnect(conn, reason_code::not_authorized, "iot:Connect no longer allowed");
      });
    });
  }
}

void broker::shutdown() {
  shutting_down_ = true;
  std::vector<connection_id> ids;
  for (auto& [id, c] : connections_) ids.push_back(id);
  for (auto id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    disconnect(*it->second, reason_code::server_shutting_down, "the server is shutting down", false);
  }
}

// ---------------------------------------------------------------------------
// lifecycle events (AWS IoT's $aws/events/presence and subscriptions topics)

// AWS IoT publishes no lifecycle events for client ids that cannot be part of
// a topic name ('+', '#', or too long).
bool broker::events_for(const std::string& client_id) const {
  return !client_id.empty() && client_id.find_first_of("+#") == std::string::npos;
}

void broker::presence_event(const connection& c, bool connected, const std::string& reason) {
  if (!events_for(c.client_id) || !c.acc) return;
  json::object e{{"clientId", c.client_id},
                 {"timestamp", now_ms(clock_)},
                 {"eventType", connected ? "connected" : "disconnected"},
                 {"sessionIdentifier", c.session_identifier},
                 {"principalIdentifier", c.acc->principal()}};
  if (connected) {
    e["ipAddress"] = c.who.address;
  } else {
    e["clientInitiatedDisconnect"] = reason == "CLIENT_INITIATED_DISCONNECT";
    e["disconnectReason"] = reason;
  }
  e["versionNumber"] = c.presence_version;
  auto text = json::serialize(e);
  publish(std::string("$aws/events/presence/") + (connected ? "connected/" : "disconnected/") + c.client_id,
          bytes(text.begin(), text.end()), qos::at_least_once, false);
}

void broker::subscription_event(const connection& c, bool subscribed, const std::vector<std::string>& topics) {
  if (!events_for(c.client_id)) return;
  json::array list;
  for (const auto& t : topics) list.emplace_back(t);
  json::object e{{"clientId", c.client_id},
                 {"timestamp", now_ms(clock_)},
                 {"eventType", subscribed ? "subscribed" : "unsubscribed"},
                 {"sessionIdentifier", c.session_identifier},
                 {"principalIdentifier", c.acc ? c.acc->principal() : std::string()},
                 {"topics", std::move(list)}};
  auto text = json::serialize(e);
  publish(std::string("$aws/events/subscriptions/") + (subscribed ? "subscribed/" : "unsubscribed/") + c.client_id,
          bytes(text.begin(), text.end()), qos::at_least_once, false);
}

}  // namespace airfleet::mqtt
