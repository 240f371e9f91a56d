#pragma once

// RETURN_IF_ERROR / ASSIGN_OR_RETURN: abseil 20220623 (Debian 12) ships none.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PROMCONF_CONCAT_INNER(a, b) a##b
#define PROMCONF_CONCAT(a, b) PROMCONF_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::absl::Status _promconf_status = (expr);   \
    if (!_promconf_status.ok()) return _promconf_status; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  PROMCONF_ASSIGN_OR_RETURN_IMPL(PROMCONF_CONCAT(_promconf_statusor_, __LINE__), lhs, expr)

#define PROMCONF_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()
