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
  };
  return all;
}

}  // namespace airfleet::storage
