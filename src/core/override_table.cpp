#include "core/override_table.hpp"

#include <algorithm>
#include <cstdio>

#include "core/bounds.hpp"
#include "core/duration.hpp"

namespace drl::core {
namespace {

bool same_scope(const OverrideRecord& a, const OverrideScope& scope) {
  return a.scope == scope;
}

}  // namespace

std::string_view override_kind_name(OverrideKind kind) {
  switch (kind) {
    case OverrideKind::cleared:
      return "cleared";
    case OverrideKind::limit:
      return "limit";
    case OverrideKind::factor:
      return "factor";
    case OverrideKind::block:
      return "block";
    case OverrideKind::reset:
      return "reset";
  }
  return "unknown";
}

std::int64_t reset_lasts_ms(const std::vector<ResetMark>& marks, WallTime now) {
  std::int64_t lasts_ms = 1;
  for (const ResetMark& mark : marks) {
    const auto end_ms = static_cast<std::int64_t>((mark.window_id + 2) * mark.window_ms);
    lasts_ms = std::max(lasts_ms, end_ms - now.unix_ms);
  }
  return lasts_ms;
}

std::string describe_scope(const OverrideScope& scope) {
  std::string out = "policy '" + scope.policy + "'";
  if (!scope.tier.empty()) out += ", tier '" + scope.tier + "'";
  if (!scope.endpoint.empty()) out += ", endpoint '" + scope.endpoint + "'";
  if (scope.window_ms != 0) out += ", window " + format_duration_ms(scope.window_ms);
  if (!scope.key.empty()) {
    // Keys come from callers: shown in part, so that a log line stays a line.
    out += ", key '" + scope.key.substr(0, 80) + (scope.key.size() > 80 ? "...'" : "'");
  }
  return out;
}

std::string describe_value(OverrideKind kind, std::uint64_t value) {
  switch (kind) {
    case OverrideKind::limit:
      return "limit " + std::to_string(value);
    case OverrideKind::factor: {
      char text[32];
      std::snprintf(text, sizeof text, "factor %.3g", static_cast<double>(value) / 1000.0);
      return text;
    }
    case OverrideKind::block:
      return "block";
    case OverrideKind::reset:
      return "reset";
    case OverrideKind::cleared:
      break;
  }
  return "cleared";
}

OverrideTable::OverrideTable(std::string node_id, OverrideLimits limits)
    : limits_(limits), clock_(std::move(node_id)) {}

std::string OverrideTable::invalid(const OverrideRecord& r, WallTime now) const {
  const OverrideScope& s = r.scope;
  if (s.policy.empty() || s.policy.size() > bounds::policy_name_bytes_max) {
    return "the policy name must have 1 to " + std::to_string(bounds::policy_name_bytes_max) +
           " bytes";
  }
  if (s.tier.size() > bounds::tier_name_bytes_max) return "the tier name is too long";
  if (s.endpoint.size() > bounds::endpoint_name_bytes_max) return "the endpoint name is too long";
  if (s.window_ms > bounds::window_ms_max) return "the window is longer than 366 days";
  if (s.window_ms != 0 && !bounds::window_ms_valid(s.window_ms)) {
    return "a window longer than 31 days is a whole number of seconds";
  }
  if (s.key.size() > bounds::override_key_bytes_max) {
    return "a key override or reset names a key of at most " +
           std::to_string(bounds::override_key_bytes_max) + " bytes";
  }
  if (s.key.empty() && (s.counts_reset || r.kind == OverrideKind::block)) {
    return "a block or a reset names a key";
  }
  const bool reset_kind = r.kind == OverrideKind::reset;
  if ((s.counts_reset ? !(reset_kind || r.kind == OverrideKind::cleared) : reset_kind) ||
      reset_kind == r.marks.empty()) {
    return "a reset carries the counts it forgets, and only a reset does";
  }
  if (r.marks.size() > bounds::limits_per_item_max) return "a reset marks too many counters";
  for (const ResetMark& mark : r.marks) {
    if (mark.counter_id == 0 || !bounds::window_ms_valid(mark.window_ms)) {
      return "a reset's counter is invalid";
    }
  }
  if (r.reason.size() > limits_.reason_bytes_max) {
    return "the reason has more than " + std::to_string(limits_.reason_bytes_max) + " bytes";
  }
  switch (r.kind) {
    case OverrideKind::limit:
      if (r.value < 1 || r.value > bounds::limit_max) {
        return "the limit must be between 1 and " + std::to_string(bounds::limit_max);
      }
      break;
    case OverrideKind::factor:
      if (r.value < 1 || r.value > limits_.factor_permille_max) {
        return "the factor must be between 0.001 and " +
               std::to_string(limits_.factor_permille_max / 1000);
      }
      break;
    case OverrideKind::block:
    case OverrideKind::reset:
    case OverrideKind::cleared:
      if (r.value != 0) return "a block, a reset or a tombstone has no value";
      break;
  }
  const std::int64_t ttl_ms_max = s.counts_reset ? limits_.reset_ttl_ms_max : limits_.ttl_ms_max;
  if (r.stamp.node_id.empty() || r.stamp.node_id.size() > 64) return "the writer's id is invalid";
  if (r.expires_wall_ms < r.set_wall_ms || r.expires_wall_ms - r.set_wall_ms > ttl_ms_max) {
    return "the time to live must be at most " + format_duration_ms(ttl_ms_max);
  }
  if (r.retain_until_wall_ms < r.expires_wall_ms ||
      r.retain_until_wall_ms - r.set_wall_ms > 2 * ttl_ms_max) {
    return "the retention is out of bounds";
  }
  if (r.stamp.wall_ms - now.unix_ms > limits_.future_ms_max) {
    return "the stamp is more than " + format_duration_ms(limits_.future_ms_max) +
           " ahead of this node's clock";
  }
  return {};
}

bool OverrideTable::put(OverrideRecord record, WallTime now, bool& full) {
  full = false;
  const auto at = std::lower_bound(
      records_.begin(), records_.end(), record.scope,
      [](const OverrideRecord& r, const OverrideScope& scope) { return r.scope < scope; });
  if (at != records_.end() && same_scope(*at, record.scope)) {
    if (!(at->stamp < record.stamp)) return false;  // older, or the same write again
    // The winner keeps the loser's retention: a copy of the loser still travelling must find a
    // newer record (or tombstone) here for as long as it could be in force.
    record.retain_until_wall_ms = std::max(record.retain_until_wall_ms, at->retain_until_wall_ms);
    *at = std::move(record);
    return true;
  }
  if (records_.size() >= limits_.records_max) {
    // Make room by dropping the tombstone that expires first; active records are never evicted.
    auto victim = records_.end();
    for (auto it = records_.begin(); it != records_.end(); ++it) {
      if (it->active(now)) continue;
      if (victim == records_.end() || it->retain_until_wall_ms < victim->retain_until_wall_ms) {
        victim = it;
      }
    }
    if (victim == records_.end()) {
      full = true;
      return false;
    }
    records_.erase(victim);
    return put(std::move(record), now, full);  // positions moved: search again
  }
  records_.insert(at, std::move(record));
  return true;
}

OverrideRecord OverrideTable::set(const OverrideScope& scope, OverrideKind kind,
                                  std::uint64_t value, std::int64_t ttl_ms, std::string reason,
                                  WallTime now, std::string& error, std::vector<ResetMark> marks) {
  error.clear();
  std::lock_guard lock(mutex_);
  OverrideRecord record;
  record.scope = scope;
  record.kind = kind;
  record.value = kind == OverrideKind::limit || kind == OverrideKind::factor ? value : 0;
  record.marks = std::move(marks);
  record.set_wall_ms = now.unix_ms;
  if (ttl_ms < 1) {
    error = "the time to live must be positive";
    return record;
  }
  const std::int64_t ttl_ms_max =
      scope.counts_reset ? limits_.reset_ttl_ms_max : limits_.ttl_ms_max;
  record.expires_wall_ms = now.unix_ms + std::min(ttl_ms, ttl_ms_max + 1);
  record.retain_until_wall_ms = record.expires_wall_ms;
  record.reason = std::move(reason);
  record.stamp = clock_.now(now);
  error = invalid(record, now);
  if (!error.empty()) return record;
  bool full = false;
  put(record, now, full);
  if (full) {
    ++stats_.table_full;
    error =
        "the override table is full (" + std::to_string(limits_.records_max) + " active overrides)";
    return record;
  }
  ++stats_.set;
  version_.fetch_add(1, std::memory_order_release);
  return record;
}

bool OverrideTable::clear(const OverrideScope& scope, WallTime now) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(records_.begin(), records_.end(),
                               [&](const OverrideRecord& r) { return same_scope(r, scope); });
  if (it == records_.end() || !it->active(now)) return false;
  OverrideRecord tombstone = *it;
  tombstone.kind = OverrideKind::cleared;
  tombstone.value = 0;
  tombstone.marks.clear();
  tombstone.reason.clear();
  tombstone.set_wall_ms = now.unix_ms;
  tombstone.expires_wall_ms = std::max(now.unix_ms, it->expires_wall_ms);
  tombstone.stamp = clock_.now(now);
  bool full = false;
  put(std::move(tombstone), now, full);
  ++stats_.set;
  version_.fetch_add(1, std::memory_order_release);
  return true;
}

std::size_t OverrideTable::clear_all(WallTime now) {
  std::vector<OverrideScope> scopes;
  {
    std::lock_guard lock(mutex_);
    for (const OverrideRecord& r : records_) {
      if (r.active(now) && !r.scope.counts_reset) scopes.push_back(r.scope);
    }
  }
  std::size_t cleared = 0;
  for (const OverrideScope& scope : scopes) cleared += clear(scope, now) ? 1 : 0;
  return cleared;
}

std::size_t OverrideTable::merge(const std::vector<OverrideRecord>& records, WallTime now,
                                 bool from_state_file) {
  std::lock_guard lock(mutex_);
  std::size_t changed = 0;
  for (const OverrideRecord& record : records) {
    if (!invalid(record, now).empty()) {
      ++stats_.refused;
      continue;
    }
    clock_.observe(record.stamp, now);
    if (record.retain_until_wall_ms <= now.unix_ms) {
      ++stats_.stale;  // past its retention: whatever it was, it no longer matters
      continue;
    }
    bool full = false;
    if (put(record, now, full)) {
      ++changed;
      ++(from_state_file ? stats_.restored : stats_.merged);
    } else if (full) {
      ++stats_.table_full;
    } else {
      ++stats_.stale;
    }
  }
  if (changed > 0) version_.fetch_add(1, std::memory_order_release);
  return changed;
}

bool OverrideTable::expire(WallTime now) {
  std::lock_guard lock(mutex_);
  bool changed = false;
  for (OverrideRecord& r : records_) {
    if (r.kind != OverrideKind::cleared && now.unix_ms >= r.expires_wall_ms) {
      // Stays as a tombstone with its stamp: nodes that receive either copy agree.
      r.kind = OverrideKind::cleared;
      r.value = 0;
      r.marks.clear();
      if (!r.scope.counts_reset) ++stats_.expired;  // a reset does not expire: its windows end
      changed = true;
    }
  }
  const auto gone = std::remove_if(records_.begin(), records_.end(), [&](const OverrideRecord& r) {
    return r.kind == OverrideKind::cleared && now.unix_ms >= r.retain_until_wall_ms;
  });
  stats_.dropped += static_cast<std::uint64_t>(records_.end() - gone);
  if (gone != records_.end()) {
    records_.erase(gone, records_.end());
  }
  if (changed) version_.fetch_add(1, std::memory_order_release);
  return changed;
}

std::vector<OverrideRecord> OverrideTable::active(WallTime now) const {
  std::lock_guard lock(mutex_);
  std::vector<OverrideRecord> out;
  for (const OverrideRecord& r : records_) {
    if (r.active(now)) out.push_back(r);
  }
  return out;
}

std::vector<OverrideRecord> OverrideTable::records() const {
  std::lock_guard lock(mutex_);
  return records_;
}

OverrideStats OverrideTable::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace drl::core
