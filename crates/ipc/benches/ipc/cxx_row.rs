//! The `C++ Cap'n Proto` row: the same Echo between two C++ processes over
//! a socketpair (kestrel-ipc-cxx-peer's `bench`, which spawns its own
//! server and inherits this process's pinning), the floor the Rust rows are
//! compared with.

use super::{Figures, IN_FLIGHT, MESSAGE, PIPELINED, SEQUENTIAL, WARMUP};

/// The C++ client's figures of its C++ server, or why there are none (the
/// depends prefix lacks the C++ IPC set).
pub fn bench_cxx() -> anyhow::Result<Figures> {
    let figures = kestrel_ipc_cxx_peer::EchoBench {
        warmup: WARMUP,
        sequential: SEQUENTIAL,
        pipelined: PIPELINED,
        in_flight: IN_FLIGHT,
        message_size: MESSAGE.len(),
    }
    .run()?;
    Ok(Figures {
        mean: figures.mean,
        p50: figures.p50,
        p99: figures.p99,
        cpu_per_call: figures.cpu_per_call,
        runs_per_call: figures.runs_per_call,
        calls_per_sec: Some(figures.calls_per_sec),
        // Counted only on kestrel-ipc's own sockets.
        syscalls_per_call: None,
    })
}
