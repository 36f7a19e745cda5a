// drl-bench: load generator and benchmark of drld, side by side with Redis running the usual
// limiter scripts and with an echo server (the floor). See `drl-bench --help` and
// docs/benchmarks.md.
//
// Exit status: 0 done, 1 the run failed (server unreachable, broken connection), 2 bad options.
#include <cstdio>
#include <exception>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/echo_server.hpp"
#include "tools/bench/key_fill.hpp"
#include "tools/bench/load_run.hpp"
#include "tools/bench/target_session.hpp"

namespace {

int run(const drl::bench::BenchOptions& options) {
  using drl::bench::Mode;
  const drl::bench::TargetSession session(options);
  switch (options.mode) {
    case Mode::load: {
      const drl::bench::RunReport report = drl::bench::run_load(options, session);
      const std::string text =
          options.json ? drl::bench::report_json(report) + "\n" : drl::bench::report_text(report);
      std::fputs(text.c_str(), stdout);
      return 0;
    }
    case Mode::fill_keys: {
      const drl::bench::FillReport report = drl::bench::fill_keys(options, session);
      const std::string text = options.json ? drl::bench::fill_report_json(report) + "\n"
                                            : drl::bench::fill_report_text(report);
      std::fputs(text.c_str(), stdout);
      return 0;
    }
    case Mode::report_memory:
      std::puts(drl::bench::snapshot_json(options, session.snapshot()).c_str());
      return 0;
    case Mode::echo_server:
      break;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const std::optional<drl::bench::BenchOptions> options =
      drl::bench::parse_bench_options(argc, argv, exit_code);
  if (!options) return exit_code;
  if (options->mode == drl::bench::Mode::echo_server)
    return drl::bench::EchoServer(options->socket_path).run();
  try {
    return run(*options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "drl-bench: %s: %s\n", drl::bench::target_name(options->target),
                 error.what());
    return 1;
  }
}
