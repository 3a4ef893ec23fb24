// `airfleet serve`: builds the engines on the data directory, starts the
// listeners, writes the ready file, and shuts down cleanly on SIGINT/SIGTERM.
#pragma once

#include "server/settings.hpp"

namespace airfleet::server {

int serve(const serve_settings& settings);

}  // namespace airfleet::server
