// Sequential round trips (mean, p50, p99), CPU time and thread runs per
// call of both processes (every thread's /proc schedstat, as the Rust rows
// measure them) and pipelined calls/s of a C++ client against a C++ Echo
// server.
#include "bench.h"

#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <kj/debug.h>

#include "servers.h"

namespace kestrel {
namespace {

using Clock = std::chrono::steady_clock;

// Time on a CPU and times put on one (each wake-up is one), summed.
struct CpuUse {
  long long ns = 0;
  long long runs = 0;
  CpuUse operator+(const CpuUse& o) const { return {ns + o.ns, runs + o.runs}; }
  CpuUse operator-(const CpuUse& o) const { return {ns - o.ns, runs - o.runs}; }
};

// Over every thread of `pid` ("self" or a number): schedstat's first field
// (ns on a CPU) and third (times run on a CPU).
CpuUse processCpu(const std::string& pid) {
  std::string dir = "/proc/" + pid + "/task";
  CpuUse total;
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return total;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream stat(dir + "/" + entry->d_name + "/schedstat");
    long long onCpu = 0, waiting = 0, runs = 0;
    if (stat >> onCpu >> waiting >> runs) total = total + CpuUse{onCpu, runs};
  }
  closedir(tasks);
  return total;
}

}  // namespace

void runBench(kj::AsyncIoContext& io, const BenchParams& params) {
  auto& ws = io.waitScope;
  pid_t child = 0;
  auto cpuNow = [&child]() { return processCpu("self") + processCpu(std::to_string(child)); };
  std::vector<kj::byte> message(params.size, 0x5a);
  auto payload = kj::arrayPtr(message.data(), message.size());
  std::vector<long long> roundTrips;
  CpuUse cpu;
  double callsPerSec = 0;
  {
    Connection connection(spawnServer(io, child), capnp::rpc::twoparty::Side::CLIENT);
    Echo::Client echo = connection.remoteInit().makeEchoRequest().send().wait(ws).getEcho();
    auto call = [&]() {
      auto request = echo.echoRequest();
      request.setData(payload);
      return request.send().then([&](capnp::Response<Echo::EchoResults>&& reply) {
        KJ_REQUIRE(reply.getData().size() == payload.size(), "a short echo");
      });
    };
    for (unsigned i = 0; i < params.warmup; ++i) call().wait(ws);

    roundTrips.reserve(params.sequential);
    CpuUse cpuStart = cpuNow();
    for (unsigned i = 0; i < params.sequential; ++i) {
      auto start = Clock::now();
      call().wait(ws);
      roundTrips.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
          Clock::now() - start).count());
    }
    cpu = cpuNow() - cpuStart;

    // `inFlight` lanes, each starting its next call when one completes,
    // until `pipelined` calls were started: as the Rust rows' FuturesUnordered.
    unsigned started = 0;
    kj::Function<kj::Promise<void>()> lane = [&]() -> kj::Promise<void> {
      if (started == params.pipelined) return kj::READY_NOW;
      ++started;
      return call().then([&]() { return lane(); });
    };
    auto start = Clock::now();
    kj::Vector<kj::Promise<void>> lanes;
    for (unsigned i = 0; i < params.inFlight; ++i) lanes.add(lane());
    kj::joinPromises(lanes.releaseAsArray()).wait(ws);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    callsPerSec = params.pipelined / seconds;
  }
  // The connection is closed: the server sees it and exits.
  reapServer(child);

  KJ_REQUIRE(!roundTrips.empty(), "no sequential calls to time");
  long long total = 0;
  for (long long t : roundTrips) total += t;
  long long calls = static_cast<long long>(roundTrips.size());
  std::sort(roundTrips.begin(), roundTrips.end());
  std::printf(
      "figures mean_ns=%lld p50_ns=%lld p99_ns=%lld cpu_ns_per_call=%lld runs_per_call=%.3f "
      "pipelined_per_s=%.0f\n",
      total / calls, roundTrips[roundTrips.size() / 2], roundTrips[roundTrips.size() * 99 / 100],
      cpu.ns / calls, static_cast<double>(cpu.runs) / calls, callsPerSec);
}

}  // namespace kestrel
