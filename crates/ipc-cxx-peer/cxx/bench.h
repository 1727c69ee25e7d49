// The C++ row of `cargo xtask bench ipc`: Echo between this process and a
// spawned C++ server over a socketpair, timed the way the Rust rows are.
#pragma once

#include <kj/async-io.h>

namespace kestrel {

struct BenchParams {
  unsigned warmup;      // untimed calls first
  unsigned sequential;  // timed one at a time
  unsigned pipelined;   // timed with `inFlight` outstanding
  unsigned inFlight;
  unsigned size;        // bytes of each Echo
};

// Runs the bench and prints one `figures ...` line (see src/lib.rs, which
// parses it).
void runBench(kj::AsyncIoContext& io, const BenchParams& params);

}  // namespace kestrel
