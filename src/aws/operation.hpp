// Small helpers shared by the files that define AWS operations.
#pragma once

#include "core/error.hpp"

// Evaluates `expr` (a core::result); returns its error, else binds its value to `var`.
#define TRY(var, expr)                            \
  auto var##_result = (expr);                     \
  if (!var##_result) return var##_result.error(); \
  auto var = std::move(*var##_result)
