#include "jobs/types.hpp"

#include <array>
#include <utility>

namespace airfleet::jobs {

namespace {
template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E value) {
  for (const auto& [v, n] : names)
    if (v == value) return n;
  return "";
}
template <class E, std::size_t N>
std::optional<E> parse_name(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view text) {
  for (const auto& [v, n] : names)
    if (n == text) return v;
  return std::nullopt;
}

constexpr std::array<std::pair<job_status, std::string_view>, 5> job_statuses{{
    {job_status::in_progress, "IN_PROGRESS"},
    {job_status::scheduled, "SCHEDULED"},
    {job_status::canceled, "CANCELED"},
    {job_status::deletion_in_progress, "DELETION_IN_PROGRESS"},
    {job_status::completed, "COMPLETED"},
}};
constexpr std::array<std::pair<execution_status, std::string_view>, 8> execution_statuses{{
    {execution_status::queued, "QUEUED"},
    {execution_status::in_progress, "IN_PROGRESS"},
    {execution_status::succeeded, "SUCCEEDED"},
    {execution_status::failed, "FAILED"},
    {execution_status::timed_out, "TIMED_OUT"},
    {execution_status::rejected, "REJECTED"},
    {execution_status::removed, "REMOVED"},
    {execution_status::canceled, "CANCELED"},
}};
constexpr std::array<std::pair<target_selection, std::string_view>, 2> selections{{
    {target_selection::snapshot, "SNAPSHOT"},
    {target_selection::continuous, "CONTINUOUS"},
}};
constexpr std::array<std::pair<failure_type, std::string_view>, 4> failure_types{{
    {failure_type::failed, "FAILED"},
    {failure_type::rejected, "REJECTED"},
    {failure_type::timed_out, "TIMED_OUT"},
    {failure_type::all, "ALL"},
}};
constexpr std::array<std::pair<end_behavior, std::string_view>, 3> end_behaviors{{
    {end_behavior::stop_rollout, "STOP_ROLLOUT"},
    {end_behavior::cancel, "CANCEL"},
    {end_behavior::force_cancel, "FORCE_CANCEL"},
}};
}  // namespace

std::string_view to_string(job_status s) { return name_of(job_statuses, s); }
std::string_view to_string(execution_status s) { return name_of(execution_statuses, s); }
std::string_view to_string(target_selection s) { return name_of(selections, s); }
std::string_view to_string(failure_type t) { return name_of(failure_types, t); }
std::string_view to_string(end_behavior b) { return name_of(end_behaviors, b); }
std::optional<job_status> parse_job_status(std::string_view s) { return parse_name(job_statuses, s); }
std::optional<execution_status> parse_execution_status(std::string_view s) {
  return parse_name(execution_statuses, s);
}
std::optional<target_selection> parse_target_selection(std::string_view s) { return parse_name(selections, s); }
std::optional<failure_type> parse_failure_type(std::string_view s) { return parse_name(failure_types, s); }
std::optional<end_behavior> parse_end_behavior(std::string_view s) { return parse_name(end_behaviors, s); }

bool is_terminal(execution_status s) { return s != execution_status::queued && s != execution_status::in_progress; }

}  // namespace airfleet::jobs
