// The MQTT jobs API: AWS IoT's reserved `$aws/things/<thing>/jobs/...`
// topics as a service, plus the notifications and jobs events that the
// engine's changes cause. No broker inside: requests come in through
// handle(), everything goes out through `publish`, so tests drive it with
// strings and a fake engine clock.
//
// ## Requests (device -> server) and replies
//
//   $aws/things/T/jobs/get            GetPendingJobExecutions
//   $aws/things/T/jobs/start-next     StartNextPendingJobExecution
//   $aws/things/T/jobs/J/get          DescribeJobExecution (J may be $next)
//   $aws/things/T/jobs/J/update       UpdateJobExecution
//
// Each is answered on `<request topic>/accepted` or `<request topic>/rejected`.
// Payloads follow aws/jobs_data_api.hpp's shapes with three MQTT rules:
// every reply carries `timestamp` (epoch seconds), `clientToken` is echoed
// only when the request had one, and `jobDocument` is the document as a
// JSON object. An empty payload is `{}`. A rejection is
// {code, message, timestamp, clientToken?, executionState?}, the code one
// of InvalidTopic, InvalidJson, InvalidRequest, InvalidStateTransition,
// ResourceNotFound, VersionMismatch, InternalError, RequestThrottled,
// TerminalStateReached; VersionMismatch and InvalidStateTransition carry
// the execution's state as the engine found it when it refused the update. A publish under `$aws/things/T/jobs/`
// that is none of the four gets InvalidTopic on `<topic>/rejected`, except
// on our own reply and notification topics, which are never answered.
//
// ## Notifications (server -> device)
//
// * `$aws/things/T/jobs/notify` {timestamp, jobs: {IN_PROGRESS: [summary],
//   QUEUED: [summary]}} whenever an execution of T enters or leaves the
//   pending set (created, QUEUED -> IN_PROGRESS, pending -> terminal, a
//   pending execution deleted). Empty lists are left out; `jobs` is {} when
//   nothing is pending.
// * `$aws/things/T/jobs/notify-next` {timestamp, execution?} when the next
//   job (what DescribeJobExecution $next returns) differs from the one last
//   announced for T: another job, or the same job queued again for a retry;
//   not when only its status or details change (AWS's rule). No `execution` member means
//   nothing is pending; that is announced when T's last pending execution
//   left the pending set.
// Both read the state after the change (engine.pending, describe $next), not
// the event's copy, so events for one thing that arrive while its previous
// computation is still queued fold into one. Each thing's computations run
// in order on one of `ordering_lanes` strands of the blocking pool, so two
// notifications for a thing never overtake each other.
//
// ## Jobs events (server -> fleet monitoring)
//
// `$aws/events/jobExecution/<jobId>/<succeeded|failed|rejected|canceled|
// timed_out|removed|deleted>` when an execution reaches a terminal status or
// is deleted, and `$aws/events/job/<jobId>/<completed|canceled|deleted|
// cancellation_in_progress|deletion_in_progress>`, with the payloads of the
// developer guide's "Jobs events" page (which gives `timestamp` in seconds
// but createdAt, lastUpdatedAt and completedAt in milliseconds). They are
// always on (airfleet has no event configuration yet) and published in
// commit order from one strand.
//
// ## Threading
//
// handle() runs on the broker thread and never blocks: reads go to the
// blocking pool, writes go to the engine's asynchronous calls, whose
// callbacks run on the database writer thread and only publish. on_events()
// runs on the writer thread and only queues work. Work in flight holds the
// service's state by shared_ptr, so destroying the jobs_mqtt while replies
// are pending is safe (they are still published).
#pragma once

#include "core/time.hpp"
#include "jobs/engine.hpp"

#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace airfleet::aws {

struct jobs_mqtt_settings {
  // Larger request payloads are rejected with InvalidJson (AWS IoT: 128 KB).
  std::size_t max_payload_bytes = 128 * 1024;
  // Requests waiting for the engine; beyond this, RequestThrottled.
  std::size_t max_inflight_requests = 10000;
  // Things whose last announced next execution is remembered (notify-next
  // dedup). Beyond this an arbitrary entry is forgotten: at worst one
  // notify-next is sent twice.
  std::size_t max_announced_things = 1000000;
  // Strands that keep each thing's notifications in order.
  std::size_t ordering_lanes = 64;
  // Reply and event timestamps; nullptr means the system clock.
  const core::clock* clock = nullptr;
};

class jobs_mqtt {
 public:
  // publish(topic, payload): thread-safe, QoS 1, called from any thread.
  using publish_fn = std::function<void(std::string topic, std::string payload)>;

  jobs_mqtt(jobs::engine& engine, boost::asio::thread_pool& blocking, publish_fn publish,
            jobs_mqtt_settings settings = {});
  ~jobs_mqtt();
  jobs_mqtt(const jobs_mqtt&) = delete;
  jobs_mqtt& operator=(const jobs_mqtt&) = delete;

  // A publish on $aws/things/<thing>/jobs/<...> that the broker has already
  // authorized (iot:Publish). Called on the broker thread: does not block.
  void handle(const std::string& topic, std::string payload);
  // Engine events, called on the database writer thread: does not block.
  void on_events(const std::vector<jobs::event>& events);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace airfleet::aws
