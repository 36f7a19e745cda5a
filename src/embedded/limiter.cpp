#include "drl/limiter.hpp"

#include <atomic>
#include <bit>
#include <chrono>
#include <mutex>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"

namespace drl {
namespace {

// Distinguishes Limiter instances in the per-thread cache, even at a reused address.
std::atomic<std::uint64_t> g_next_serial{1};

struct PolicyCache {
  std::uint64_t serial = 0;
  std::uint64_t generation = 0;
  std::shared_ptr<const core::PolicySet> policies;
};

// Each thread keeps the policies it last used, so a check reads one shared atomic (the
// generation) instead of taking a lock or touching a shared reference count.
thread_local PolicyCache t_cache;

Decision to_decision(const core::CheckOutcome& outcome, bool detail) {
  Decision out;
  out.allowed = outcome.allowed;
  out.shadow_denied = outcome.shadow_denied;
  out.tier_unknown = outcome.tier_unknown;
  if (outcome.limit_count > 0) {
    const core::LimitOutcome& binding = outcome.binding_limit();
    out.limit = binding.limit;
    out.policy = binding.policy->name;
    out.scope = std::string(binding.scope);
    out.window_ms = binding.rule->window_ms;
    out.remaining = binding.verdict.remaining;
    out.reset_after_ms = binding.verdict.reset_after_ms;
    out.retry_after_ms = outcome.allowed ? 0 : binding.verdict.retry_after_ms;
    out.enforcement = std::string(core::enforcement_name(binding.policy->enforcement));
  }
  if (detail) {
    out.limits.reserve(outcome.limit_count);
    for (std::size_t i = 0; i < outcome.limit_count; ++i) {
      const core::LimitOutcome& limit = outcome.limits[i];
      LimitDecision entry;
      entry.policy = limit.policy->name;
      entry.scope = std::string(limit.scope);
      entry.algorithm = std::string(core::algorithm_name(limit.rule->algorithm));
      entry.limit = limit.limit;
      entry.window_ms = limit.rule->window_ms;
      entry.remaining = limit.verdict.remaining;
      entry.reset_after_ms = limit.verdict.reset_after_ms;
      entry.retry_after_ms = limit.verdict.retry_after_ms;
      entry.allowed = limit.admits;
      entry.shadow = limit.policy->shadow;
      entry.enforcement = std::string(core::enforcement_name(limit.policy->enforcement));
      out.limits.push_back(std::move(entry));
    }
  }
  return out;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Limiter::Impl {
  explicit Impl(const config::Config& config)
      : store(core::StoreOptions{
            config.bounds.max_keys,
            std::min(config.bounds.store_shards, std::bit_floor(config.bounds.max_keys))}),
        engine(store, 0),
        policies(config.policies) {}

  const std::uint64_t serial = g_next_serial.fetch_add(1);
  core::CounterStore store;
  core::CheckEngine engine;
  std::mutex mutex;  // guards policies; taken only when the generation moved
  std::shared_ptr<const core::PolicySet> policies;
  std::atomic<std::uint64_t> generation{1};

  const core::PolicySet& current() {
    const std::uint64_t now = generation.load(std::memory_order_acquire);
    if (t_cache.serial != serial || t_cache.generation != now) {
      std::lock_guard<std::mutex> guard(mutex);
      t_cache.serial = serial;
      t_cache.generation = generation.load(std::memory_order_acquire);
      t_cache.policies = policies;
    }
    return *t_cache.policies;
  }

  Result<Done> replace(Result<config::Config> parsed) {
    if (!parsed.ok()) return Error{Errc::reload_failed, parsed.error().message};
    std::lock_guard<std::mutex> guard(mutex);
    policies = parsed->policies;
    generation.fetch_add(1, std::memory_order_acq_rel);
    return Done{};
  }
};

Limiter::Limiter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Limiter::Limiter(Limiter&& other) noexcept = default;
Limiter& Limiter::operator=(Limiter&& other) noexcept = default;
Limiter::~Limiter() = default;

Result<Limiter> Limiter::from_toml(std::string_view toml) {
  Result<config::Config> parsed = config::parse_config(toml, "(limiter config)");
  if (!parsed.ok()) return parsed.error();
  return Limiter(std::make_unique<Impl>(parsed.value()));
}

Result<Limiter> Limiter::from_file(const std::string& path) {
  Result<config::Config> parsed = config::load_config_file(path);
  if (!parsed.ok()) return parsed.error();
  return Limiter(std::make_unique<Impl>(parsed.value()));
}

Result<Decision> Limiter::check(const CheckRequest& request, bool detail) {
  return check_at(unix_ms_now(), std::span<const CheckRequest>(&request, 1), detail);
}

Result<Decision> Limiter::check_all(std::span<const CheckRequest> items, bool detail) {
  return check_at(unix_ms_now(), items, detail);
}

Result<Decision> Limiter::check_at(std::int64_t unix_ms, std::span<const CheckRequest> items,
                                   bool detail) {
  if (items.size() > bounds::items_per_check_max) {
    return Error{Errc::too_many_items,
                 "a check has at most " + std::to_string(bounds::items_per_check_max) + " items"};
  }
  core::CheckItem converted[bounds::items_per_check_max];
  for (std::size_t i = 0; i < items.size(); ++i) {
    converted[i] = core::CheckItem{items[i].policy, items[i].key, items[i].tier, items[i].endpoint,
                                   items[i].cost};
  }
  const core::PolicySet& policies = impl_->current();
  core::CheckOutcome outcome;
  impl_->engine.check(policies, core::WallTime{unix_ms},
                      std::span<const core::CheckItem>(converted, items.size()), outcome);
  if (outcome.error != Errc::ok) return Error{outcome.error, outcome.error_message};
  return to_decision(outcome, detail);
}

Result<Done> Limiter::reload_toml(std::string_view toml) {
  return impl_->replace(config::parse_config(toml, "(limiter config)"));
}

Result<Done> Limiter::reload_file(const std::string& path) {
  return impl_->replace(config::load_config_file(path));
}

std::uint64_t Limiter::tracked_keys() const {
  return impl_->store.stats().keys;
}
std::uint64_t Limiter::evicted_keys() const {
  return impl_->store.stats().evictions;
}

}  // namespace drl
