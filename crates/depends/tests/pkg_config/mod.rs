//! pkg-config as a `-sys` crate's build script runs it against a depends
//! prefix: with the `PKG_CONFIG*` entries of the prefix's
//! `cargo-config.toml`, or (no prefix) as the system has it.

use std::path::Path;
use std::process::{Command, Output};

pub fn pkg_config(prefix: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new("pkg-config");
    cmd.args(args)
        .env_remove("PKG_CONFIG_PATH")
        .env_remove("PKG_CONFIG_LIBDIR");
    if let Some(prefix) = prefix {
        let text = std::fs::read_to_string(prefix.join("cargo-config.toml")).unwrap();
        let cargo: toml::Value = toml::from_str(&text).unwrap();
        for (key, value) in cargo["env"].as_table().unwrap() {
            if key.starts_with("PKG_CONFIG") {
                cmd.env(key, value["value"].as_str().unwrap());
            }
        }
    }
    cmd.output()
        .expect("pkg-config (ci/install-prerequisites.sh installs it)")
}
