//! The child process that runs a cmake package's configure, build and
//! install through the `cmake` crate (see `kestrel_depends::cmake_step`).
//! `cargo xtask depends` runs itself for this; tests run this binary.

fn main() {
    std::process::exit(kestrel_depends::cmake_step::main(
        std::env::args_os().skip(1),
    ))
}
