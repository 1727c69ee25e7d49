// The Echo and Init servers, and the connection plumbing every mode shares.
#include "servers.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>

namespace kestrel {

kj::Promise<void> EchoServer::echo(EchoContext context) {
  context.getResults().setData(context.getParams().getData());
  return kj::READY_NOW;
}

kj::Promise<void> EchoOnlyInit::makeEcho(MakeEchoContext context) {
  context.getResults().setEcho(kj::heap<EchoServer>());
  return kj::READY_NOW;
}

Connection::Connection(kj::Own<kj::AsyncIoStream> stream_, capnp::rpc::twoparty::Side side)
    : stream(kj::mv(stream_)), rpc(*stream, kj::heap<EchoOnlyInit>(), side) {}

Init::Client Connection::remoteInit() { return rpc.bootstrap().castAs<Init>(); }

void serveFd(kj::AsyncIoContext& io, int fd) {
  auto stream = io.lowLevelProvider->wrapSocketFd(
      fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  Connection connection(kj::mv(stream), capnp::rpc::twoparty::Side::SERVER);
  connection.rpc.onDisconnect().wait(io.waitScope);
}

kj::Own<kj::AsyncIoStream> spawnServer(kj::AsyncIoContext& io, pid_t& childPid) {
  int fds[2];
  KJ_SYSCALL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  char self[4096];
  ssize_t length;
  KJ_SYSCALL(length = readlink("/proc/self/exe", self, sizeof(self) - 1));
  self[length] = '\0';
  auto fdText = kj::str(fds[1]);
  KJ_SYSCALL(childPid = fork());
  if (childPid == 0) {
    // The child keeps its end across exec; only async-signal-safe calls here.
    fcntl(fds[1], F_SETFD, 0);
    char serve[] = "serve";
    char* argv[] = {self, serve, fdText.begin(), nullptr};
    execv(self, argv);
    _exit(127);
  }
  close(fds[1]);
  return io.lowLevelProvider->wrapSocketFd(fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
}

void reapServer(pid_t childPid) {
  int status = 0;
  KJ_SYSCALL(waitpid(childPid, &status, 0));
  KJ_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "the spawned Echo server failed", status);
}

}  // namespace kestrel
