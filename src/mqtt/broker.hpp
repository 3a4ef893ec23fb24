// The MQTT broker's protocol core: sessions, routing, retained messages,
// wills, persistent sessions and AWS IoT's reserved topics, with no I/O.
//
// Bytes in, bytes out. The transport (transport.hpp: Asio, TLS, sockets)
// calls open() for a new network connection, received() with the bytes it
// read, closed() when the socket ended, and tick() about every 100 ms; the
// broker answers by writing bytes through the connection's `link` and by
// asking the link to close. Everything here runs on one thread (the
// transport's broker thread); the few things that must not block it
// (authenticating a CONNECT, which reads the identity tables, and making
// changes durable) are handed to `authenticator` and `mqtt_store`, whose
// answers come back on that thread through `post`.
//
// Rules worth knowing before changing anything (MQTT 3.1.1 and 5.0, AWS IoT):
// * A connection starts in `awaiting_connect`: the first packet must be a
//   CONNECT within `connect_timeout`, anything else closes it. While the
//   CONNECT is being authenticated (`authenticating`) further bytes are
//   buffered, not read (pipelined SUBSCRIBEs after CONNECT are legal).
// * Authentication = the TLS client certificate (validated by the
//   authenticator) or, on the development plain listener, the operator's
//   named policy. Then iot:Connect on client/<clientId>; a refusal answers
//   CONNACK "not authorized" (v5 0x87, 3.1.1 return code 5) and closes.
// * Client ids are unique: a CONNECT for a client id that is connected takes
//   over (the old connection gets DISCONNECT 0x8E on v5 and is closed; its
//   will is published). Clean start discards a stored session; otherwise the
//   session (subscriptions, queued messages, unacknowledged deliveries)
//   resumes and CONNACK says session present. 3.1.1 clean session=0 keeps the
//   session for `max_session_expiry`; v5 keeps it for the Session Expiry
//   Interval asked (capped at that setting).
// * PUBLISH: iot:Publish on topic/<topic>; a refusal disconnects the client
//   (AWS's behaviour; v5 gets DISCONNECT 0x87 first). Topics starting with
//   '$' are refused the same way unless a service registered them
//   (register_service); those publishes go to the service, not to
//   subscribers. QoS 2 is exactly-once towards subscribers: a repeated
//   packet id before PUBREL is acknowledged again but not routed again.
// * SUBSCRIBE: iot:Subscribe on topicfilter/<filter> per filter; a refusal is
//   that filter's failure code (0x80 / v5 0x87), the others still succeed.
//   Each delivery is judged by iot:Receive on topic/<topic> of the receiving
//   connection; a refused delivery is dropped silently.
// * Delivery to one session is merged across its matching subscriptions
//   (highest QoS, all subscription identifiers); a shared group delivers each
//   message to one member (round robin, connected members first).
// * Flow control: at most min(client's Receive Maximum, max_inflight)
//   unacknowledged QoS 1/2 deliveries per connection; more wait in the
//   session's queue (at most max_queued_messages; beyond that new messages
//   are dropped and counted). QoS 0 deliveries are dropped when the
//   connection already has `max_pending_bytes` unsent (a slow reader never
//   stalls the others, and never grows without bound). A client sending more
//   than our Receive Maximum unacknowledged QoS 2 publishes is disconnected
//   (0x93).
// * Keep-alive: a connection silent for 1.5 x its keep-alive is closed
//   (v5: DISCONNECT 0x8D) and its will published. v5 clients asking for more
//   than max_keep_alive get Server Keep Alive.
// * Durability: subscriptions of persistent sessions, messages queued for
//   offline persistent sessions and retained messages are written through
//   `mqtt_store`; the SUBACK / PUBACK / PUBREC that answers a packet which
//   caused such a write is sent only after the write is durable, and acks on
//   one connection keep the order of the packets they answer.
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"
#include "mqtt/codec.hpp"
#include "mqtt/packets.hpp"
#include "mqtt/topic.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace airfleet::storage {
class mqtt_store;
}

namespace airfleet::mqtt {

struct broker_limits {
  std::size_t max_packet_size = 128 * 1024 + 1024;  // AWS IoT: 128 KB payloads
  std::uint16_t receive_maximum = 100;               // QoS 1/2 publishes a client may have unacknowledged
  std::uint16_t max_inflight = 100;                  // our unacknowledged deliveries per connection
  std::size_t max_queued_messages = 1000;            // per session, waiting to be sent
  std::size_t max_pending_bytes = 4 * 1024 * 1024;   // unsent bytes before QoS 0 deliveries are dropped
  std::size_t max_subscriptions = 50;                // per session (AWS IoT: 50)
  std::size_t max_connections = 100000;              // per node
  std::uint16_t max_keep_alive = 1200;               // AWS IoT: 30..1200 s
  std::uint16_t topic_alias_maximum = 8;             // AWS IoT: 8
  std::uint32_t max_session_expiry = 3600;           // seconds; AWS IoT's default persistent session expiry
  std::size_t max_retained = 500000;                 // retained topics
  std::size_t max_client_id_length = 128;            // AWS IoT: 128 bytes
  std::chrono::milliseconds connect_timeout{10000};  // from accept to CONNECT
  topic_limits topics = {};
};

enum class action { connect, publish, subscribe, receive };

// What one connection may do: judged for every packet, cheap (no I/O).
class access {
 public:
  virtual ~access() = default;
  virtual bool allowed(action what, std::string_view name) = 0;
  // For lifecycle events and for finding a principal's connections.
  virtual const std::string& principal() const = 0;
  // Does a change to this policy / target / thing concern this connection?
  virtual bool concerned_by(std::string_view subject) const = 0;
};

// Who is on the other end, as the transport saw it.
struct peer {
  std::string address;                  // "127.0.0.1"
  std::shared_ptr<void> certificate;    // the client's X509* (owned), null on the plain listener
  bool tls = false;
};

// Resolves a CONNECT to an access (off the broker thread; `done` may be called
// from any thread: the broker posts the answer back to itself).
class authenticator {
 public:
  virtual ~authenticator() = default;
  virtual void authenticate(const peer& who, const std::string& client_id,
                            std::function<void(core::result<std::shared_ptr<access>>)> done) = 0;
};

// The transport's half of one network connection.
class link {
 public:
  virtual ~link() = default;
  virtual void send(std::span<const std::uint8_t> bytes) = 0;  // queue for writing
  virtual std::size_t pending_bytes() const = 0;               // queued, not yet written
  virtual void close() = 0;                                     // after writing what is queued
};

// A publish a service registered for (register_service) hands over.
struct service_request {
  std::string client_id;
  std::string principal;
  std::string topic;
  bytes payload;
  std::uint8_t protocol_level;
};
using service_handler = std::function<void(const service_request&)>;

struct broker_stats {
  std::uint64_t connections = 0;       // open network connections
  std::uint64_t sessions = 0;          // sessions, connected or not
  std::uint64_t subscriptions = 0;
  std::uint64_t retained = 0;
  std::uint64_t messages_in = 0;       // PUBLISH received from clients
  std::uint64_t messages_out = 0;      // PUBLISH sent to clients
  std::uint64_t dropped = 0;           // deliveries dropped (queue full, slow reader, expired)
  std::uint64_t denied = 0;            // authorization refusals
};

class broker {
 public:
  using connection_id = std::uint64_t;
  // `post` runs a function on the broker thread later (the transport's executor).
  broker(broker_limits limits, authenticator& auth, const core::clock& clock,
         std::function<void(std::function<void()>)> post, storage::mqtt_store* store = nullptr);
  ~broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  // Loads persistent sessions and retained messages from the store.
  core::result<void> restore();

  // ---- the transport's calls -------------------------------------------
  connection_id open(std::shared_ptr<link> l, peer who);
  void received(connection_id id, std::span<const std::uint8_t> bytes);
  void closed(connection_id id);
  void tick();  // timers: connect timeout, keep-alive, will delay, session expiry

  // ---- services and the rest of the server -----------------------------
  // Publishes matching `filter` (e.g. "$aws/things/+/jobs/#") go to `handler`
  // instead of subscribers, after iot:Publish allowed them.
  void register_service(std::string filter, service_handler handler);
  // Publishes as the server (no publish authorization; receive still applies).
  void publish(std::string topic, bytes payload, qos q = qos::at_least_once, bool retain = false);
  // Re-authenticates every connection concerned by `subject` (a policy name,
  // target ARN, certificate id or thing name); connections whose identity is
  // no longer valid are closed. An empty subject concerns everyone.
  void identity_changed(const std::string& subject);
  // Closes every connection (v5: DISCONNECT 0x8B) and makes sessions durable.
  void shutdown();

  broker_stats stats() const;
  const broker_limits& limits() const { return limits_; }

 private:
  struct message;
  struct session;
  struct connection;
  struct sub_options;
  using message_ptr = std::shared_ptr<const message>;

  // protocol
  void process(connection& c);
  void on_packet(connection& c, packet&& p);
  void on_connect(connection& c, connect_packet&& p);
  void on_authenticated(connection_id id, core::result<std::shared_ptr<access>> result);
  void on_publish(connection& c, publish_packet&& p);
  void on_puback(connection& c, std::uint16_t id);
  void on_pubrec(connection& c, const pubrec_packet& p);
  void on_pubrel(connection& c, std::uint16_t id);
  void on_pubcomp(connection& c, std::uint16_t id);
  void on_subscribe(connection& c, subscribe_packet&& p);
  void on_unsubscribe(connection& c, unsubscribe_packet&& p);
  void on_disconnect(connection& c, const disconnect_packet& p);

  // routing
  struct route_result {
    bool matched;  // some session was a target
    bool stored;   // it was queued in the store for an offline persistent session
  };
  route_result route(const message_ptr& m, const std::string* origin_client);
  // Returns whether it stored the message (for an offline persistent session).
  bool deliver(session& s, const message_ptr& m, qos granted, bool retain_flag,
               const std::vector<std::uint32_t>& sub_ids);
  void pump(session& s);
  void send_publish(connection& c, const message& m, qos q, std::uint16_t packet_id, bool retain_flag, bool dup,
                    const std::vector<std::uint32_t>& sub_ids);
  void send_retained(connection& c, const std::string& filter, const sub_options& o);
  void set_retained(const message_ptr& m);

  // connection ends
  void send(connection& c, const packet& p);
  void send_ack(connection& c, const packet& p, bool wait_for_store, std::function<void()> after);
  void disconnect(connection& c, reason_code reason, const std::string& why, bool with_will = true);
  void drop(connection& c, const std::string& why, bool with_will);
  void detach_session(connection& c, bool with_will);
  void end_session(session& s);
  void publish_will(session& s);

  // persistence
  static std::string stored_form(const message& m, qos q, bool retain, const std::vector<std::uint32_t>& ids);
  static message_ptr from_stored(const std::string& data, std::vector<std::uint32_t>* ids);
  bool persistent(const session& s) const;
  void save_session(session& s);
  void persist_queue(session& s);
  void flush_store(std::function<void()> then);

  // lifecycle events ($aws/events/...)
  bool events_for(const std::string& client_id) const;
  void presence_event(const connection& c, bool connected, const std::string& reason);
  void subscription_event(const connection& c, bool subscribed, const std::vector<std::string>& topics);

  bool allowed(connection& c, action a, std::string_view name);

  broker_limits limits_;
  authenticator& auth_;
  const core::clock& clock_;
  std::function<void(std::function<void()>)> post_;
  storage::mqtt_store* store_;

  connection_id next_connection_ = 1;
  std::unordered_map<connection_id, std::unique_ptr<connection>> connections_;
  std::unordered_map<std::string, std::unique_ptr<session>> sessions_;
  subscription_tree<sub_options>* tree_;  // owned; defined in the .cpp
  std::map<std::string, message_ptr> retained_;
  std::vector<std::pair<std::string, service_handler>> services_;
  std::unordered_map<std::string, std::uint64_t> presence_versions_;
  std::map<std::string, std::size_t> share_cursor_;  // round robin per shared group+filter
  broker_stats stats_;
  std::int64_t next_store_seq_ = 1;
  std::uint64_t route_epoch_ = 0;
  bool shutting_down_ = false;
};

}  // namespace airfleet::mqtt
