// kestrel-cxx-peer: a C++ Cap'n Proto peer of Kestrel's processes, built
// against the depends C++ IPC set, speaking schema/*.capnp as capnpc-c++
// compiles it (Cap'n Proto C++, as Bitcoin Core's processes use it).
//
//   kestrel-cxx-peer attach <socket> <hex>   connect to a node's -ipcbind
//       socket; Init.makeEcho + Echo.echo(<hex>), Init.makeNode + Node.info;
//       prints `echo <hex>` and `info height=.. hash=.. mempool_size=..
//       mempool_bytes=..`
//   kestrel-cxx-peer ping <hex>     spawn a C++ Echo server (`serve`) over a
//       socketpair and echo <hex> through it; prints `echo <hex>`
//   kestrel-cxx-peer serve <fd>     serve Init/Echo on socket <fd> until closed
//   kestrel-cxx-peer bench <warmup> <sequential> <pipelined> <in-flight> <size>
//       time Echo against a spawned `serve` (see bench.h)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <kj/debug.h>
#include <kj/encoding.h>

#include "bench.h"
#include "node.capnp.h"
#include "servers.h"

namespace kestrel {
namespace {

constexpr const char* USAGE =
    "usage: kestrel-cxx-peer attach <socket> <hex> | ping <hex> | serve <fd> |\n"
    "       bench <warmup> <sequential> <pipelined> <in-flight> <size>\n";

kj::Array<kj::byte> parseHex(const char* text) {
  auto decoded = kj::decodeHex(kj::StringPtr(text));
  KJ_REQUIRE(!decoded.hadErrors, "not an even-length hex string", text);
  return kj::mv(decoded);
}

unsigned parseCount(const char* text) {
  char* end = nullptr;
  unsigned long value = std::strtoul(text, &end, 10);
  KJ_REQUIRE(*text != '\0' && *end == '\0' && value <= 0xffffffffUL, "not a count", text);
  return static_cast<unsigned>(value);
}

// Echo.echo(payload) through `init`'s Echo; prints what came back.
void echoThrough(Init::Client& init, kj::ArrayPtr<const kj::byte> payload, kj::WaitScope& ws) {
  Echo::Client echo = init.makeEchoRequest().send().wait(ws).getEcho();
  auto request = echo.echoRequest();
  request.setData(payload);
  auto reply = request.send().wait(ws);
  std::printf("echo %s\n", kj::encodeHex(reply.getData()).cStr());
}

void requireAccepted(const char* call, bool hasRejected, Rejected::Reader rejected) {
  KJ_REQUIRE(!hasRejected, "the node rejected the call", call, rejected.getCode(),
             rejected.getMessage());
}

void attach(kj::AsyncIoContext& io, const char* socket, kj::ArrayPtr<const kj::byte> payload) {
  auto& ws = io.waitScope;
  auto address = io.provider->getNetwork().parseAddress(kj::str("unix:", socket)).wait(ws);
  Connection connection(address->connect().wait(ws), capnp::rpc::twoparty::Side::CLIENT);
  Init::Client init = connection.remoteInit();
  echoThrough(init, payload, ws);

  auto made = init.makeNodeRequest().send().wait(ws);
  requireAccepted("Init.makeNode", made.hasRejected(), made.getRejected());
  auto reply = made.getNode().infoRequest().send().wait(ws);
  requireAccepted("Node.info", reply.hasRejected(), reply.getRejected());
  auto info = reply.getInfo();
  std::printf("info height=%u hash=%s mempool_size=%u mempool_bytes=%llu\n",
              info.getTip().getHeight(), kj::encodeHex(info.getTip().getHash()).cStr(),
              info.getMempoolSize(), static_cast<unsigned long long>(info.getMempoolBytes()));
}

void ping(kj::AsyncIoContext& io, kj::ArrayPtr<const kj::byte> payload) {
  pid_t child = 0;
  {
    Connection connection(spawnServer(io, child), capnp::rpc::twoparty::Side::CLIENT);
    Init::Client init = connection.remoteInit();
    echoThrough(init, payload, io.waitScope);
  }
  reapServer(child);
}

int run(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  auto io = kj::setupAsyncIo();
  if (std::strcmp(mode, "attach") == 0 && argc == 4) {
    attach(io, argv[2], parseHex(argv[3]));
  } else if (std::strcmp(mode, "ping") == 0 && argc == 3) {
    ping(io, parseHex(argv[2]));
  } else if (std::strcmp(mode, "serve") == 0 && argc == 3) {
    serveFd(io, static_cast<int>(parseCount(argv[2])));
  } else if (std::strcmp(mode, "bench") == 0 && argc == 7) {
    runBench(io, BenchParams{parseCount(argv[2]), parseCount(argv[3]), parseCount(argv[4]),
                             parseCount(argv[5]), parseCount(argv[6])});
  } else {
    std::fputs(USAGE, stderr);
    return 2;
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace kestrel

int main(int argc, char** argv) {
  int status = 1;
  KJ_IF_MAYBE(exception, kj::runCatchingExceptions([&]() { status = kestrel::run(argc, argv); })) {
    std::fprintf(stderr, "kestrel-cxx-peer: %s\n", exception->getDescription().cStr());
    return 1;
  }
  return status;
}
