// The peer's side of a connection: the Init it offers (as every Kestrel
// process offers one; only makeEcho is served) and the Echo it hands out.
#pragma once

#include <sys/types.h>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "echo.capnp.h"
#include "init.capnp.h"

namespace kestrel {

// Returns what it is given.
class EchoServer final : public Echo::Server {
 protected:
  kj::Promise<void> echo(EchoContext context) override;
};

// An Init that serves makeEcho only; its other methods answer
// UNIMPLEMENTED, as a peer with no chain, wallet or node has none to give.
class EchoOnlyInit final : public Init::Server {
 protected:
  kj::Promise<void> makeEcho(MakeEchoContext context) override;
};

// One Cap'n Proto two-party connection over `stream`, offering an
// EchoOnlyInit, on `side` (CLIENT for the end that connected or spawned).
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream> stream, capnp::rpc::twoparty::Side side);

  // The other end's Init.
  Init::Client remoteInit();

  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyClient rpc;
};

// Serves on `fd` (a socket this process owns) until the other end closes.
void serveFd(kj::AsyncIoContext& io, int fd);

// Spawns this program as `serve <fd>` on one end of a new socketpair and
// returns the other end; `childPid` is the server's process id.
kj::Own<kj::AsyncIoStream> spawnServer(kj::AsyncIoContext& io, pid_t& childPid);

// Waits for a spawned server to exit; throws unless it exited with 0.
void reapServer(pid_t childPid);

}  // namespace kestrel
