//! The rustc wrapper between cargo and sccache that leaves a checkout's
//! remap out of compiles that never see it (see
//! `kestrel_depends::sccache::wrapper`). `cargo xtask build --sccache` runs
//! itself for this; tests run this binary.

fn main() {
    std::process::exit(kestrel_depends::sccache::wrapper::main(
        std::env::args_os().skip(1),
    ))
}
