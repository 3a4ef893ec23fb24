// airfleet's settings: every flag --foo-bar is also the environment variable
// AIRFLEET_FOO_BAR and the key foo-bar in the optional TOML file named by
// --config. Precedence: flag > environment > file > built-in default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::server {

struct serve_settings {
  std::string data_dir = "./airfleet-data";
  std::string http_listen = "127.0.0.1:8080";
  std::string https_listen = "0.0.0.0:8443";  // the same API over TLS with the server certificate
  std::string mqtt_listen = "0.0.0.0:8883";   // MQTT over TLS, client certificates required
  std::string mqtt_plain;                     // plain-TCP MQTT for development and benchmarks; off when empty
  std::string mqtt_plain_policy;              // the IoT policy that judges plain-TCP clients (required with it)
  std::size_t mqtt_max_connections = 100000;
  std::size_t mqtt_max_packet_size = 128 * 1024 + 1024;
  int mqtt_max_inflight = 100;                // unacknowledged QoS 1/2 deliveries per connection
  int mqtt_receive_maximum = 100;             // unacknowledged QoS 2 publishes a client may send
  std::size_t mqtt_max_queued_messages = 1000;  // per session
  std::size_t mqtt_max_subscriptions = 50;      // per session
  int mqtt_max_keep_alive = 1200;               // seconds
  int mqtt_max_session_expiry = 3600;           // seconds a persistent session outlives its connection
  std::size_t mqtt_max_retained = 500000;
  std::int64_t jobs_max_rate = 1000;       // highest rollout rate a job may ask for, per minute (AWS: 1,000)
  std::int64_t jobs_default_rate = 0;      // rollout rate of jobs without a rollout config; 0 = unlimited
  double jobs_time_scale = 1.0;            // test-only: job minutes per real minute (timeouts, rollout windows)
  int jobs_tick_ms = 200;                  // how often the scheduler looks for due work
  std::string public_url;                  // base URL devices use for presigned firmware links; empty: the HTTP endpoint
  int s3_abandoned_upload_hours = 24;      // multipart uploads older than this are aborted
  std::vector<std::string> tls_hostnames;     // extra subject alternative names for the server certificate
  std::string pki_key_type = "ec";            // ec (P-256) or rsa (2048) for the CA, server and device keys
  std::string region;                        // empty: the stored one, else us-east-1 at first start
  std::string account_id;                    // empty: the stored one, else generated at first start
  std::string ready_file;
  std::string endpoint_address = "localhost";  // the MQTT host DescribeEndpoint returns
  double api_rate_limit = 0;                   // requests per second per access key; 0 = off
  std::size_t http_max_connections = 16000;
  std::size_t http_body_limit = 1024 * 1024;
  std::size_t http_header_limit = 16 * 1024;
  int http_header_timeout = 30;  // seconds
  int http_idle_timeout = 120;   // seconds
  int threads = 0;               // I/O threads; 0 = one per core
  int blocking_threads = 64;     // threads that wait on durable writes
  std::string log_level = "info";
  bool access_log = true;
};

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};
// "HOST:PORT" or "[v6]:PORT"; nullopt when malformed.
std::optional<host_port> parse_host_port(const std::string& text);

}  // namespace airfleet::server
