//! Records the triple xtask is compiled for: the build machine's triple,
//! the default `--host` (no `rustc -vV` at run time).
fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=KESTREL_BUILD_TRIPLE={target}");
}
