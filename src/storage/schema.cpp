#include "storage/schema.hpp"

namespace airfleet::storage {

const std::vector<migration>& schema_migrations() {
  static const std::vector<migration> all = {
      {1, R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE access_keys (
  access_key_id TEXT PRIMARY KEY,
  secret        TEXT NOT NULL,
  created_ms    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_types (
  name          TEXT PRIMARY KEY,
  id            TEXT NOT NULL,
  description   TEXT,
  searchable    TEXT NOT NULL,          -- JSON array of attribute names
  deprecated    INTEGER NOT NULL DEFAULT 0,
  deprecated_ms INTEGER NOT NULL DEFAULT 0,
  created_ms    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE things (
  name       TEXT PRIMARY KEY,
  id         TEXT NOT NULL,
  type_name  TEXT REFERENCES thing_types(name),
  attributes TEXT NOT NULL,             -- JSON object, the copy returned on reads
  version    INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX things_by_type ON things(type_name, name) WHERE type_name IS NOT NULL;

-- One row per attribute, for ListThings by attribute.
CREATE TABLE thing_attributes (
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (thing_name, name)
) WITHOUT ROWID;
CREATE INDEX thing_attributes_by_value ON thing_attributes(name, value, thing_name);

CREATE TABLE thing_groups (
  name        TEXT PRIMARY KEY,
  id          TEXT NOT NULL,
  parent_name TEXT REFERENCES thing_groups(name),
  description TEXT,
  attributes  TEXT NOT NULL,
  version     INTEGER NOT NULL,
  created_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX thing_groups_by_parent ON thing_groups(parent_name, name);

CREATE TABLE thing_group_members (
  group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  PRIMARY KEY (group_name, thing_name)
) WITHOUT ROWID;
CREATE INDEX thing_group_members_by_thing ON thing_group_members(thing_name, group_name);

CREATE TABLE tags (
  resource_arn TEXT NOT NULL,
  key          TEXT NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (resource_arn, key)
) WITHOUT ROWID;
)sql"},
      {2, R"sql(
CREATE TABLE ca_certificates (
  id                TEXT PRIMARY KEY,
  pem               TEXT NOT NULL,
  status            TEXT NOT NULL,
  auto_registration TEXT NOT NULL,
  created_ms        INTEGER NOT NULL,
  updated_ms        INTEGER NOT NULL,
  not_before_ms     INTEGER NOT NULL,
  not_after_ms      INTEGER NOT NULL,
  generation_id     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ca_certificates_by_created ON ca_certificates(created_ms, id);

CREATE TABLE certificates (
  id            TEXT PRIMARY KEY,          -- hex SHA-256 of the DER
  pem           TEXT NOT NULL,
  status        TEXT NOT NULL,
  ca_id         TEXT REFERENCES ca_certificates(id),
  mode          TEXT NOT NULL,
  created_ms    INTEGER NOT NULL,
  updated_ms    INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL,
  not_after_ms  INTEGER NOT NULL,
  generation_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificates_by_created ON certificates(created_ms, id);
CREATE INDEX certificates_by_ca ON certificates(ca_id, created_ms, id) WHERE ca_id IS NOT NULL;

CREATE TABLE policies (
  name            TEXT PRIMARY KEY,
  default_version INTEGER NOT NULL,
  next_version    INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  generation_id   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE policy_versions (
  policy     TEXT NOT NULL REFERENCES policies(name) ON DELETE CASCADE,
  version    INTEGER NOT NULL,
  document   TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (policy, version)
) WITHOUT ROWID;

-- A policy attached to a target: a certificate ARN or a thing group ARN.
CREATE TABLE policy_targets (
  policy TEXT NOT NULL REFERENCES policies(name),
  target TEXT NOT NULL,
  PRIMARY KEY (policy, target)
) WITHOUT ROWID;
CREATE INDEX policy_targets_by_target ON policy_targets(target, policy);

-- A certificate (by ARN) attached to a thing.
CREATE TABLE thing_principals (
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  principal  TEXT NOT NULL,
  PRIMARY KEY (thing_name, principal)
) WITHOUT ROWID;
CREATE INDEX thing_principals_by_principal ON thing_principals(principal, thing_name);
)sql"},
      {3, R"sql(
-- MQTT persistent sessions: `state` is the broker's encoding of the session
-- (expiry, subscriptions); messages queued for it while it was offline are
-- rows of mqtt_queue in the order of `seq`.
CREATE TABLE mqtt_sessions (
  client_id TEXT PRIMARY KEY,
  state     BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE mqtt_queue (
  client_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  message   BLOB NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;

CREATE TABLE mqtt_retained (
  topic   TEXT PRIMARY KEY,
  message BLOB NOT NULL
) WITHOUT ROWID;
)sql"},
      {4, R"sql(
-- IoT Jobs. A job's targets and configuration live in `spec` (the engine's
-- encoding); its jobProcessDetails counters and rollout state are columns,
-- changed in the same transaction as the executions they count.
CREATE TABLE jobs (
  job_id          TEXT PRIMARY KEY,
  status          TEXT NOT NULL,
  selection       TEXT NOT NULL,
  spec            TEXT NOT NULL,
  reason_code     TEXT,
  comment         TEXT,
  force_canceled  INTEGER NOT NULL DEFAULT 0,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  completed_ms    INTEGER,
  n_queued        INTEGER NOT NULL DEFAULT 0,
  n_in_progress   INTEGER NOT NULL DEFAULT 0,
  n_succeeded     INTEGER NOT NULL DEFAULT 0,
  n_failed        INTEGER NOT NULL DEFAULT 0,
  n_rejected      INTEGER NOT NULL DEFAULT 0,
  n_timed_out     INTEGER NOT NULL DEFAULT 0,
  n_canceled      INTEGER NOT NULL DEFAULT 0,
  n_removed       INTEGER NOT NULL DEFAULT 0,
  pending_targets INTEGER NOT NULL DEFAULT 0,
  rollout_stopped INTEGER NOT NULL DEFAULT 0,
  rate            INTEGER NOT NULL DEFAULT 0,
  window_start_ms INTEGER NOT NULL DEFAULT 0,
  window_count    INTEGER NOT NULL DEFAULT 0,
  window_rate     INTEGER NOT NULL DEFAULT 0,
  has_schedule    INTEGER NOT NULL DEFAULT 0,
  notified_since_increase  INTEGER NOT NULL DEFAULT 0,
  succeeded_since_increase INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- The scheduler's pass looks only at jobs that may have work.
CREATE INDEX jobs_active ON jobs(status) WHERE status IN ('IN_PROGRESS', 'SCHEDULED', 'DELETION_IN_PROGRESS');

-- Things a job will roll out to and has not yet: drained at the rollout rate.
CREATE TABLE job_targets (
  job_id     TEXT NOT NULL,
  thing_name TEXT NOT NULL,
  PRIMARY KEY (job_id, thing_name)
) WITHOUT ROWID;

-- `deadline_ms` is the nearer of the in-progress and step deadlines.
CREATE TABLE job_executions (
  job_id           TEXT NOT NULL,
  thing_name       TEXT NOT NULL,
  execution_number INTEGER NOT NULL,
  status           TEXT NOT NULL,
  status_details   TEXT NOT NULL,
  force_canceled   INTEGER NOT NULL DEFAULT 0,
  queued_ms        INTEGER NOT NULL,
  started_ms       INTEGER,
  updated_ms       INTEGER NOT NULL,
  version          INTEGER NOT NULL,
  in_progress_deadline_ms INTEGER,
  step_deadline_ms INTEGER,
  deadline_ms      INTEGER,
  retries_failed   INTEGER NOT NULL DEFAULT 0,
  retries_timed_out INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, thing_name, execution_number)
) WITHOUT ROWID;
-- A thing has few executions: its pending ones are found through this index
-- (an index on status would cost every transition an index update).
CREATE INDEX job_executions_by_thing ON job_executions(thing_name, job_id);
CREATE INDEX job_executions_due ON job_executions(deadline_ms) WHERE deadline_ms IS NOT NULL;

CREATE TABLE job_templates (
  template_id TEXT PRIMARY KEY,
  spec        TEXT NOT NULL,
  created_ms  INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
      {5, R"sql(
-- The firmware store (S3 API). Bodies live in blobs/; these rows say which
-- blob holds which version of which key.
CREATE TABLE s3_buckets (
  name        TEXT PRIMARY KEY,
  region      TEXT NOT NULL,
  created_ms  INTEGER NOT NULL,
  versioning  TEXT NOT NULL DEFAULT '',   -- '', 'Enabled' or 'Suspended'
  encryption  TEXT                        -- NULL or 'AES256' (the bucket default)
) WITHOUT ROWID;

-- One row per version of a key, delete markers included. `seq` grows with
-- each version of a key, so the newest is the one with the largest seq.
CREATE TABLE s3_objects (
  bucket           TEXT NOT NULL,
  key              TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  version_id       TEXT NOT NULL,          -- 'null' when written without versioning
  is_latest        INTEGER NOT NULL,
  delete_marker    INTEGER NOT NULL,
  size             INTEGER NOT NULL,
  etag             TEXT NOT NULL,          -- quoted, as sent in the ETag header
  last_modified_ms INTEGER NOT NULL,
  content_type     TEXT,
  headers          TEXT NOT NULL,          -- JSON: user metadata, stored response headers, checksums
  encrypted        INTEGER NOT NULL,
  blobs            TEXT NOT NULL,          -- "id:size,id:size" in body order (several for multipart)
  PRIMARY KEY (bucket, key, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX s3_objects_version ON s3_objects(bucket, key, version_id);
CREATE INDEX s3_objects_current ON s3_objects(bucket, key) WHERE is_latest = 1;

CREATE TABLE s3_uploads (
  upload_id    TEXT PRIMARY KEY,
  bucket       TEXT NOT NULL,
  key          TEXT NOT NULL,
  created_ms   INTEGER NOT NULL,
  content_type TEXT,
  headers      TEXT NOT NULL,
  encrypted    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX s3_uploads_by_key ON s3_uploads(bucket, key, created_ms);

CREATE TABLE s3_parts (
  upload_id        TEXT NOT NULL,
  part_number      INTEGER NOT NULL,
  size             INTEGER NOT NULL,
  etag             TEXT NOT NULL,
  blob             TEXT NOT NULL,
  last_modified_ms INTEGER NOT NULL,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
)sql"},
  };
  return all;
}

}  // namespace airfleet::storage
