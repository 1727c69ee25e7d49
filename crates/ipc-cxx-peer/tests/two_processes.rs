//! Two C++ processes over a socketpair: the peer spawns its own Echo
//! server (`serve`) and calls it, once to check the bytes and once timed
//! (the C++ row of `bench ipc`, with few calls).

use std::process::Command;

use kestrel_ipc_cxx_peer::{executable, EchoBench};

/// The peer, or a failure naming what to run (never a silent pass).
fn peer() -> &'static std::path::Path {
    executable().unwrap_or_else(|missing| panic!("{missing}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_cxx_client_echoes_through_a_cxx_server() {
    // Empty, small, and larger than one socket buffer's worth of segments.
    let large: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for payload in [Vec::new(), b"kestrel".to_vec(), large] {
        let output = Command::new(peer())
            .args(["ping", &hex(&payload)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", output.status);
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout, format!("echo {}\n", hex(&payload)));
    }
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    let output = Command::new(peer()).arg("nonsense").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: kestrel-cxx-peer attach"));
    let output = Command::new(peer()).args(["ping", "abc"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not an even-length hex string"), "{stderr}");
}

#[test]
fn the_bench_times_calls_between_two_cxx_processes() {
    let bench = EchoBench {
        warmup: 10,
        sequential: 200,
        pipelined: 1_000,
        in_flight: 10,
        message_size: 64,
    };
    let figures = bench.run().unwrap();
    assert!(figures.p50 > std::time::Duration::ZERO, "{figures:?}");
    assert!(figures.p50 <= figures.p99, "{figures:?}");
    // Both processes spend CPU on a round trip.
    assert!(
        figures.cpu_per_call > std::time::Duration::ZERO,
        "{figures:?}"
    );
    assert!(figures.calls_per_sec > 0.0, "{figures:?}");
}
