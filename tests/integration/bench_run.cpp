#include "bench_run.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

}  // namespace

std::string drl_bench_binary() {
  const char* path = std::getenv("DRL_BENCH");
  if (path == nullptr || path[0] == '\0')
    throw std::runtime_error("$DRL_BENCH is not set: run this test through `meson test`");
  return path;
}

std::string run_bench_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv{drl_bench_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--json");
  const CommandResult result = run_command(argv, 60s);
  std::string line = result.out;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (result.exit_code != 0 || line.empty() || line.find('\n') != std::string::npos ||
      line.front() != '{' || line.back() != '}') {
    throw std::runtime_error("drl-bench exited " + std::to_string(result.exit_code) +
                             "; stdout: " + result.out + "; stderr: " + result.err);
  }
  // A real JSON parser, where there is one: Python's.
  if (::access(kPython, X_OK) == 0) {
    const CommandResult parsed =
        run_command({kPython, "-c", "import json, sys; json.loads(sys.argv[1])", line}, 30s);
    if (parsed.exit_code != 0)
      throw std::runtime_error("not JSON: " + line + " (" + parsed.err + ")");
  }
  return line;
}

const std::vector<std::string_view>& load_run_fields() {
  static const std::vector<std::string_view> fields = {
      "seconds",        "requests",        "checks",         "requests_per_s",
      "checks_per_s",   "latency_p50_us",  "latency_p99_us", "latency_p999_us",
      "latency_max_us", "latency_mean_us", "sent",
  };
  return fields;
}

std::vector<std::string> fields_not_positive(std::string_view json,
                                             const std::vector<std::string_view>& fields) {
  std::vector<std::string> bad;
  for (const std::string_view field : fields) {
    const std::optional<std::string> value = json_field(json, field);
    char* end = nullptr;
    const double number = value ? std::strtod(value->c_str(), &end) : 0.0;
    if (!value || value->empty() || end != value->c_str() + value->size() || !(number > 0)) {
      bad.emplace_back(field);
    }
  }
  return bad;
}

}  // namespace drl::integration
