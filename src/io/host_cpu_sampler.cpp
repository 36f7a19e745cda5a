#include "io/host_cpu_sampler.hpp"

#include <cstdio>
#include <sstream>

namespace drl::io {

bool HostCpuSampler::parse(const std::string& text, std::uint64_t& busy, std::uint64_t& total) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time is
  // already inside user and nice, so it is not added again. Idle and iowait are not busy.
  std::istringstream in(text);
  std::string label;
  in >> label;
  if (label != "cpu") return false;
  std::uint64_t fields[8] = {};
  for (std::uint64_t& field : fields) {
    if (!(in >> field)) return false;
  }
  total = 0;
  for (const std::uint64_t field : fields) total += field;
  busy = total - fields[3] - fields[4];
  return true;
}

std::optional<double> HostCpuSampler::sample(core::MonoTime now) {
  if (read_once_ && now.ns - last_read_.ns < interval_ns_) return percent_;
  // The first line is all that is needed; /proc/stat is small, but one read keeps it cheap.
  std::FILE* file = std::fopen(path_.c_str(), "re");
  if (file == nullptr) return percent_ = std::nullopt;
  char line[512];
  const bool got = std::fgets(line, sizeof line, file) != nullptr;
  std::fclose(file);
  std::uint64_t busy = 0;
  std::uint64_t total = 0;
  if (!got || !parse(line, busy, total)) return percent_ = std::nullopt;
  if (read_once_ && total > total_ && busy >= busy_) {
    percent_ = 100.0 * static_cast<double>(busy - busy_) / static_cast<double>(total - total_);
  }
  read_once_ = true;
  last_read_ = now;
  busy_ = busy;
  total_ = total;
  return percent_;
}

}  // namespace drl::io
