// Sequential round trips (mean, p50, p99), CPU per call of both processes
// (every thread's /proc schedstat, as the Rust rows measure it) and
// pipelined calls/s of a C++ client against a C++ Echo server.
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

// Nanoseconds on CPU so far of every thread of `pid` ("self" or a number).
long long processCpuNs(const std::string& pid) {
  std::string dir = "/proc/" + pid + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return 0;
  long long total = 0;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream stat(dir + "/" + entry->d_name + "/schedstat");
    long long onCpu = 0;
    if (stat >> onCpu) total += onCpu;
  }
  closedir(tasks);
  return total;
}

}  // namespace

void runBench(kj::AsyncIoContext& io, const BenchParams& params) {
  auto& ws = io.waitScope;
  pid_t child = 0;
  auto cpuNow = [&child]() { return processCpuNs("self") + processCpuNs(std::to_string(child)); };
  std::vector<kj::byte> message(params.size, 0x5a);
  auto payload = kj::arrayPtr(message.data(), message.size());
  std::vector<long long> roundTrips;
  long long cpuNs = 0;
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
    long long cpuStart = cpuNow();
    for (unsigned i = 0; i < params.sequential; ++i) {
      auto start = Clock::now();
      call().wait(ws);
      roundTrips.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
          Clock::now() - start).count());
    }
    cpuNs = cpuNow() - cpuStart;

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
  std::printf("figures mean_ns=%lld p50_ns=%lld p99_ns=%lld cpu_ns_per_call=%lld pipelined_per_s=%.0f\n",
              total / calls, roundTrips[roundTrips.size() / 2],
              roundTrips[roundTrips.size() * 99 / 100], cpuNs / calls, callsPerSec);
}

}  // namespace kestrel
