#include "server/serve.hpp"

#include "auth/authenticator.hpp"
#include "aws/gateway.hpp"
#include "aws/iot_api.hpp"
#include "aws/iot_identity_api.hpp"
#include "aws/iot_jobs_api.hpp"
#include "aws/jobs_data_api.hpp"
#include "aws/jobs_mqtt.hpp"
#include "jobs/engine.hpp"
#include "server/firmware_links.hpp"
#include "server/jobs_fleet.hpp"
#include "s3/blob_store.hpp"
#include "storage/sqlite_s3_store.hpp"
#include "storage/sqlite_jobs_store.hpp"
#include "identity/identity.hpp"
#include "core/time.hpp"
#include "http/server.hpp"
#include "mqtt/broker.hpp"
#include "mqtt/transport.hpp"
#include "server/mqtt_identity.hpp"
#include "storage/sqlite_mqtt_store.hpp"
#include "registry/registry.hpp"
#include "server/data_dir.hpp"
#include "storage/sqlite_identity_store.hpp"
#include "storage/sqlite_registry_store.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <thread>

namespace airfleet::server {

namespace asio = boost::asio;
namespace json = boost::json;

std::optional<host_port> parse_host_port(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto value = std::stoul(port);
  if (value > 65535) return std::nullopt;
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return host_port{host, static_cast<std::uint16_t>(value)};
}

namespace {
std::string url_host(const asio::ip::address& a) {
  return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
}
}  // namespace

int serve(const serve_settings& settings) {
  // A peer that closes while we write must cost an error code, not the process
  // (OpenSSL writes to TLS sockets with plain write(), without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  auto http_addr = parse_host_port(settings.http_listen);
  if (!http_addr) {
    spdlog::critical("--http-listen must be HOST:PORT with a numeric address, not '{}'", settings.http_listen);
    return 2;
  }
  auto https_addr = parse_host_port(settings.https_listen);
  if (!https_addr) {
    spdlog::critical("--https-listen must be HOST:PORT with a numeric address, not '{}'", settings.https_listen);
    return 2;
  }
  if (settings.pki_key_type != "ec" && settings.pki_key_type != "rsa") {
    spdlog::critical("--pki-key-type must be ec or rsa, not '{}'", settings.pki_key_type);
    return 2;
  }
  auto mqtt_addr = parse_host_port(settings.mqtt_listen);
  if (!mqtt_addr) {
    spdlog::critical("--mqtt-listen must be HOST:PORT with a numeric address, not '{}'", settings.mqtt_listen);
    return 2;
  }
  std::optional<host_port> mqtt_plain_addr;
  if (!settings.mqtt_plain.empty()) {
    mqtt_plain_addr = parse_host_port(settings.mqtt_plain);
    if (!mqtt_plain_addr) {
      spdlog::critical("--mqtt-plain must be HOST:PORT with a numeric address, not '{}'", settings.mqtt_plain);
      return 2;
    }
    if (settings.mqtt_plain_policy.empty()) {
      spdlog::critical("--mqtt-plain needs --mqtt-plain-policy NAME: the IoT policy that judges its clients "
                       "(plain TCP has no certificates, so it is never open by accident)");
      return 2;
    }
  }

  auto dir = data_dir::open(settings.data_dir);
  if (!dir) {
    spdlog::critical("cannot open data directory {}: {}", settings.data_dir, dir.error().message);
    return 1;
  }
  auto identity = (*dir)->identity(settings.account_id, settings.region);
  if (!identity) {
    spdlog::critical("{}", identity.error().message);
    return 2;
  }
  auto credentials = (*dir)->ensure_admin_credentials(identity->region);
  if (!credentials) {
    spdlog::critical("cannot write the credentials file: {}", credentials.error().message);
    return 1;
  }

  auto key_type = settings.pki_key_type == "rsa" ? identity::pki::key_type::rsa_2048 : identity::pki::key_type::ec_p256;
  auto pki = (*dir)->ensure_pki(key_type, settings.tls_hostnames);
  if (!pki) {
    spdlog::critical("cannot set up the PKI in {}/pki: {}", (*dir)->path(), pki.error().message);
    return 1;
  }
  std::string root_ca_path = pki->root_ca_path;

  core::system_clock clock;
  storage::sqlite_registry_store registry_store((*dir)->database());
  registry::registry registry(registry_store, clock,
                              {identity->account_id, identity->region, identity->token_secret, {}});
  storage::sqlite_identity_store identity_store((*dir)->database());
  identity::identity identities(identity_store, registry, clock,
                                {identity->account_id, identity->region, identity->token_secret,
                                 identity->registration_code, key_type},
                                std::move(pki->root_ca), std::move(pki->root_key));
  auth::authenticator authenticator((*dir)->keys(), clock, settings.api_rate_limit);

  // Jobs: the engine on the registry's view of the fleet; CONTINUOUS jobs
  // follow group memberships through the registry's listener.
  storage::sqlite_jobs_store jobs_store((*dir)->database());
  jobs_fleet fleet(registry);
  jobs::engine_settings jobs_settings;
  jobs_settings.account_id = identity->account_id;
  jobs_settings.region = identity->region;
  jobs_settings.token_secret = identity->token_secret;
  jobs_settings.default_rate_per_minute = settings.jobs_default_rate;
  jobs_settings.max_rate_per_minute = settings.jobs_max_rate;
  jobs_settings.time_scale = settings.jobs_time_scale;
  jobs::engine jobs_engine(jobs_store, fleet, clock, jobs_settings);
  registry.set_membership_listener([&jobs_engine](const registry::membership_change& c) {
    switch (c.what) {
      case registry::membership_change::kind::joined: jobs_engine.thing_joined_group(c.thing, c.group); break;
      case registry::membership_change::kind::left: jobs_engine.thing_left_group(c.thing, c.group); break;
      case registry::membership_change::kind::thing_deleted: jobs_engine.thing_deleted(c.thing); break;
    }
  });

  aws::iot_api iot;
  aws::add_registry_operations(iot, registry, {settings.endpoint_address});
  aws::add_identity_operations(iot, identities);
  aws::add_jobs_operations(iot, jobs_engine);
  aws::iot_api jobs_data;
  aws::add_jobs_data_operations(jobs_data, jobs_engine);
  asio::thread_pool blocking(static_cast<std::size_t>(std::max(1, settings.blocking_threads)));
  aws::gateway gateway(authenticator, iot, jobs_data, blocking, {identity->account_id, identity->region});

  // The firmware store: the S3 API over blobs in <data>/blobs, encrypted
  // with data keys that <data>/master.key wraps.
  auto master = s3::master_key::load_or_create(std::filesystem::path((*dir)->path()) / "master.key");
  if (!master) {
    spdlog::critical("cannot open the master key: {}", master.error().message);
    return 1;
  }
  s3::blob_store blobs(std::filesystem::path((*dir)->path()) / "blobs", std::move(*master));
  storage::sqlite_s3_store s3_store((*dir)->database());
  aws::s3_api s3(authenticator, s3_store, blobs, blocking, clock, {identity->region, identity->account_id});
  s3.sweep_orphans();
  gateway.set_s3(&s3);

  // The MQTT broker: one thread of its own, the broker core and its transport on it.
  // (A pointer, so that it is destroyed before the broker and transport that
  // its unfinished handlers refer to; see the end of this function.)
  auto mqtt_io_owner = std::make_unique<asio::io_context>(1);
  auto& mqtt_io = *mqtt_io_owner;
  storage::sqlite_mqtt_store mqtt_store((*dir)->database());
  mqtt_identity mqtt_auth(identities, blocking, settings.mqtt_plain_policy);
  mqtt::broker_limits mqtt_limits;
  mqtt_limits.max_connections = settings.mqtt_max_connections;
  mqtt_limits.max_packet_size = settings.mqtt_max_packet_size;
  mqtt_limits.max_inflight = static_cast<std::uint16_t>(std::clamp(settings.mqtt_max_inflight, 1, 65535));
  mqtt_limits.receive_maximum = static_cast<std::uint16_t>(std::clamp(settings.mqtt_receive_maximum, 1, 65535));
  mqtt_limits.max_queued_messages = settings.mqtt_max_queued_messages;
  mqtt_limits.max_subscriptions = settings.mqtt_max_subscriptions;
  mqtt_limits.max_keep_alive = static_cast<std::uint16_t>(std::clamp(settings.mqtt_max_keep_alive, 1, 65535));
  mqtt_limits.max_session_expiry = static_cast<std::uint32_t>(std::max(0, settings.mqtt_max_session_expiry));
  mqtt_limits.max_retained = settings.mqtt_max_retained;
  mqtt::broker broker(
      mqtt_limits, mqtt_auth, clock, [&mqtt_io](std::function<void()> f) { asio::post(mqtt_io, std::move(f)); },
      &mqtt_store);
  if (auto restored = broker.restore(); !restored) {
    spdlog::critical("cannot load the MQTT sessions: {}", restored.error().message);
    return 1;
  }
  identities.subscribe([&](const identity::identity_event& e) {
    asio::post(mqtt_io, [&broker, subject = e.subject] { broker.identity_changed(subject); });
  });
  // The MQTT jobs API on the broker's reserved topics; replies and
  // notifications are published on the broker's thread.
  aws::jobs_mqtt jobs_over_mqtt(jobs_engine, blocking, [&mqtt_io, &broker](std::string topic, std::string payload) {
    asio::post(mqtt_io, [&broker, topic = std::move(topic), payload = std::move(payload)]() mutable {
      broker.publish(std::move(topic), mqtt::bytes(payload.begin(), payload.end()));
    });
  });
  broker.register_service("$aws/things/+/jobs/#", [&jobs_over_mqtt](const mqtt::service_request& r) {
    jobs_over_mqtt.handle(r.topic, std::string(r.payload.begin(), r.payload.end()));
  });
  jobs_engine.subscribe([&jobs_over_mqtt](const std::vector<jobs::event>& events) { jobs_over_mqtt.on_events(events); });

  // The jobs scheduler: rollouts, timeouts, schedules and deletions, every
  // --jobs-tick-ms or at once when new work appears.
  std::mutex scheduler_mutex;
  std::condition_variable scheduler_cv;
  bool scheduler_stop = false;  // guarded by scheduler_mutex
  bool scheduler_wake = false;  // guarded by scheduler_mutex
  jobs_engine.set_wake([&] {
    std::lock_guard lock(scheduler_mutex);
    scheduler_wake = true;
    scheduler_cv.notify_one();
  });
  std::thread scheduler([&] {
    std::unique_lock lock(scheduler_mutex);
    while (!scheduler_stop) {
      lock.unlock();
      bool more = jobs_engine.tick();
      lock.lock();
      if (!more)
        scheduler_cv.wait_for(lock, std::chrono::milliseconds(std::max(1, settings.jobs_tick_ms)),
                              [&] { return scheduler_stop || scheduler_wake; });
      scheduler_wake = false;
    }
  });
  auto stop_scheduler = [&] {
    {
      std::lock_guard lock(scheduler_mutex);
      scheduler_stop = true;
      scheduler_cv.notify_one();
    }
    if (scheduler.joinable()) scheduler.join();
  };
  struct on_exit {
    std::function<void()> run;
    ~on_exit() { run(); }
  } scheduler_guard{stop_scheduler};  // an early return must not leave the thread running

  auto mqtt_transport_owner = std::make_unique<mqtt::transport>(mqtt_io, broker);
  auto& mqtt_transport = *mqtt_transport_owner;
  asio::ip::tcp::endpoint bound_mqtt;
  std::optional<asio::ip::tcp::endpoint> bound_mqtt_plain;
  try {
    auto mqtt_tls = mqtt::transport::make_tls_context(pki->server_cert_path, pki->server_key_path);
    bound_mqtt = mqtt_transport.listen(mqtt_addr->host, mqtt_addr->port, mqtt_tls);
    if (mqtt_plain_addr) bound_mqtt_plain = mqtt_transport.listen(mqtt_plain_addr->host, mqtt_plain_addr->port, nullptr);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start the MQTT listeners: {}", e.what());
    return 1;
  }

  int threads = settings.threads > 0 ? settings.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  asio::io_context io(threads);

  http::limits limits;
  limits.body_bytes = settings.http_body_limit;
  limits.header_bytes = settings.http_header_limit;
  limits.header_timeout = std::chrono::seconds(settings.http_header_timeout);
  limits.idle_timeout = std::chrono::seconds(settings.http_idle_timeout);
  limits.max_connections = settings.http_max_connections;
  auto http_server = std::make_shared<http::server>(
      io, limits,
      [&gateway](http::request& req, http::request_context& ctx) { return gateway.handle(req, ctx); },
      [&gateway](auto status, auto code, auto message, const auto& ctx) {
        return gateway.transport_error(status, code, message, ctx);
      });
  http::streaming s3_streaming{[&gateway](const http::request_header& h) { return gateway.claims_stream(h); },
                               [&gateway](http::exchange& ex) { return gateway.handle_stream(ex); }};
  http_server->set_streaming(s3_streaming);
  asio::ssl::context tls(asio::ssl::context::tls_server);
  try {
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                    asio::ssl::context::single_dh_use);
    tls.use_certificate_chain_file(pki->server_cert_path);
    tls.use_private_key_file(pki->server_key_path, asio::ssl::context::pem);
  } catch (const std::exception& e) {
    spdlog::critical("cannot load the server certificate: {}", e.what());
    return 1;
  }
  auto https_server = std::make_shared<http::server>(
      io, limits,
      [&gateway](http::request& req, http::request_context& ctx) { return gateway.handle(req, ctx); },
      [&gateway](auto status, auto code, auto message, const auto& ctx) {
        return gateway.transport_error(status, code, message, ctx);
      },
      &tls);
  https_server->set_streaming(s3_streaming);
  asio::ip::tcp::endpoint bound, bound_tls;
  try {
    bound = http_server->listen(http_addr->host, http_addr->port);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", settings.http_listen, e.what());
    return 1;
  }
  try {
    bound_tls = https_server->listen(https_addr->host, https_addr->port);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", settings.https_listen, e.what());
    return 1;
  }
  std::string endpoint = "http://" + url_host(bound.address()) + ":" + std::to_string(bound.port());
  // Presigned firmware links in job documents point at the public URL.
  server::firmware_links links(s3, authenticator, clock,
                               settings.public_url.empty() ? endpoint : settings.public_url, identity->region,
                               identity->token_secret);
  jobs_engine.set_presigner(&links);
  jobs_engine.set_document_source(&links);
  struct unhook {
    jobs::engine& e;
    ~unhook() {
      e.set_presigner(nullptr);
      e.set_document_source(nullptr);
    }
  } unhook_links{jobs_engine};
  // Abandoned multipart uploads: looked for every ten minutes.
  asio::steady_timer upload_sweep(io);
  std::function<void()> schedule_sweep = [&] {
    upload_sweep.expires_after(std::chrono::minutes(10));
    upload_sweep.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      asio::post(blocking, [&] { s3.sweep_uploads(std::chrono::hours(std::max(1, settings.s3_abandoned_upload_hours))); });
      schedule_sweep();
    });
  };
  s3.sweep_uploads(std::chrono::hours(std::max(1, settings.s3_abandoned_upload_hours)));
  schedule_sweep();

  http_server->start();
  https_server->start();
  mqtt_transport.start();
  gateway.set_ready(true);

  auto tls_host = bound_tls.address().is_unspecified() ? std::string("localhost") : url_host(bound_tls.address());
  std::string tls_endpoint = "https://" + tls_host + ":" + std::to_string(bound_tls.port());
  spdlog::info("airfleet serving the AWS API at {} and {} (CA: {})", endpoint, tls_endpoint, root_ca_path);
  auto mqtt_host = bound_mqtt.address().is_unspecified() ? std::string("localhost") : bound_mqtt.address().to_string();
  spdlog::info("MQTT over TLS at {}:{}{}", mqtt_host, bound_mqtt.port(),
               bound_mqtt_plain ? fmt::format("; plain TCP (policy {}) at {}:{}", settings.mqtt_plain_policy,
                                              bound_mqtt_plain->address().to_string(), bound_mqtt_plain->port())
                                : std::string());
  spdlog::info("account {} region {}; credentials for the AWS CLI: AWS_SHARED_CREDENTIALS_FILE={}",
               identity->account_id, identity->region, *credentials);
  if (!settings.ready_file.empty()) {
    json::object ready{{"http_endpoint", endpoint}, {"https_endpoint", tls_endpoint}, {"mqtt_host", mqtt_host},
                       {"mqtt_port", bound_mqtt.port()},
                       {"mqtt_plain_port", bound_mqtt_plain ? json::value(bound_mqtt_plain->port()) : json::value(nullptr)},
                       {"credentials_file", *credentials}, {"root_ca", root_ca_path},
                       {"region", identity->region}, {"account_id", identity->account_id},
                       {"data_dir", (*dir)->path()}, {"pid", static_cast<std::int64_t>(::getpid())}};
    if (auto r = write_file_atomically(settings.ready_file, json::serialize(ready) + "\n", 0644); !r) {
      spdlog::critical("cannot write the ready file: {}", r.error().message);
      return 1;
    }
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: no new connections; finishing requests in flight", signal);
    gateway.set_ready(false);
    http_server->stop();
    https_server->stop();
    mqtt_transport.stop();
    // Wait until every connection has ended (30 s at most), then let the I/O threads go.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(io);
          auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          while (http_server->open_connections() + https_server->open_connections() > 0 &&
                 std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(std::chrono::milliseconds(20));
            co_await timer.async_wait(asio::use_awaitable);
          }
          io.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back([&io] { io.run(); });
  auto mqtt_work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(mqtt_io.get_executor());
  std::thread mqtt_thread([&mqtt_io] { mqtt_io.run(); });
  io.run();
  for (auto& w : workers) w.join();
  // The HTTP side is done; give MQTT connections a moment to take their DISCONNECT, then stop.
  {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (mqtt_transport.open_connections() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Let the MQTT thread run out of work (every connection, accept loop and
  // timer finished); stop it outright if that takes too long.
  asio::post(mqtt_io, [&mqtt_work] { mqtt_work.reset(); });
  {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!mqtt_io.stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  mqtt_io.stop();
  mqtt_thread.join();
  mqtt_transport_owner.reset();  // its acceptors and timer need the io_context still alive
  stop_scheduler();
  blocking.join();
  (*dir)->database().close();
  mqtt_io_owner.reset();  // nothing posts to it any more: the pool and the database writer are done
  spdlog::info("airfleet stopped; database closed cleanly");
  return 0;
}

}  // namespace airfleet::server
