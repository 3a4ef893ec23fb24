// The AWS CLI's shorthand syntax for structure arguments, so the
// simulator's --rollout and --abort read the way `aws iot create-job
// --job-executions-rollout-config ...` does:
//
//   maximumPerMinute=500,exponentialRate={baseRatePerMinute=50,incrementFactor=2,
//       rateIncreaseCriteria={numberOfSucceededThings=100}}
//   criteriaList=[{failureType=FAILED,action=CANCEL,thresholdPercentage=20,minNumberOfExecutedThings=10}]
//
// key=value pairs separated by commas; a value is a scalar, a {structure} or
// a [list]; a scalar may be quoted ('..' or "..") to hold , = { } [ ].
// The CLI converts scalars by the API model's types; here every member the
// simulator passes is a number, a boolean or an enum, so unquoted scalars
// that read as numbers become numbers, true/false booleans, the rest
// strings. Text that starts with '{' is taken as JSON instead, as the CLI
// also accepts. The CLI's implicit lists (key=a,b,c) are not supported:
// write key=[a,b,c].
#pragma once

#include "core/error.hpp"

#include <boost/json/value.hpp>

#include <string_view>

namespace airfleet::sim {

core::result<boost::json::value> parse_shorthand(std::string_view text);

}  // namespace airfleet::sim
