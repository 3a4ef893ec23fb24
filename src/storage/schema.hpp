// airfleet's SQLite schema as numbered migrations. Append only: a migration
// that has shipped is never edited; a change is a new, higher number.
#pragma once

#include "storage/database.hpp"

#include <vector>

namespace airfleet::storage {

const std::vector<migration>& schema_migrations();

}  // namespace airfleet::storage
