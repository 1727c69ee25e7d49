//! The files `depends` writes into `depends/<host>/` for later builds:
//! `toolchain.cmake` and `cargo-config.toml`, rendered from the templates in
//! `toolchains/` (`@NAME@` placeholders).

use std::path::{Path, PathBuf};

use crate::host::{Compilers, HostSpec};

pub const CMAKE_TEMPLATE: &str = "toolchain.cmake.in";
pub const CARGO_TEMPLATE: &str = "cargo-config.toml.in";
pub const CMAKE_FILE: &str = "toolchain.cmake";
pub const CARGO_FILE: &str = "cargo-config.toml";

/// What the toolchain files describe.
pub struct ToolchainInputs<'a> {
    pub host: &'a HostSpec,
    pub build_triple: &'a str,
    /// Compilers for the host triple.
    pub compilers: &'a Compilers,
    /// The final, absolute `depends/<host>` directory.
    pub prefix: &'a Path,
    pub multiprocess: bool,
    /// The prefix has the depends cmake (`native/bin/cmake`).
    pub cmake: bool,
    /// Path prefixes that must not appear in Rust binaries (the workspace,
    /// cargo's home), remapped with `--remap-path-prefix`.
    pub remap: &'a [(PathBuf, &'a str)],
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {path} uses unknown placeholder @{name}@")]
    UnknownPlaceholder { path: PathBuf, name: String },
}

/// Path of the depends-built `cmake` under a prefix.
pub fn cmake_path(prefix: &Path) -> PathBuf {
    prefix.join("native/bin/cmake")
}

/// Path of the depends-built `capnp` under a prefix.
pub fn capnp_path(prefix: &Path) -> PathBuf {
    prefix.join("native/bin/capnp")
}

/// Renders both files; returns `(file name, contents)` pairs.
pub fn render(
    toolchains_dir: &Path,
    inputs: &ToolchainInputs,
) -> Result<Vec<(&'static str, String)>, TemplateError> {
    let prefix = inputs.prefix;
    let host = &inputs.host.triple;
    let cross = host != inputs.build_triple;
    let cmake_vars = [
        ("HOST", host.clone()),
        ("PREFIX", cmake_quote(&prefix.display().to_string())),
        ("PREFIX_COMMENT", prefix.display().to_string()),
        ("CC", cmake_quote(&command_line(&inputs.compilers.cc))),
        ("CXX", cmake_quote(&command_line(&inputs.compilers.cxx))),
        (
            "CROSS_SYSTEM",
            if cross {
                format!(
                    "set(CMAKE_SYSTEM_NAME {})\nset(CMAKE_SYSTEM_PROCESSOR {})",
                    inputs.host.cmake_system_name, inputs.host.cmake_system_processor
                )
            } else {
                "# Native build: CMAKE_SYSTEM_NAME left to CMake.".to_owned()
            },
        ),
        (
            "ENABLE_IPC",
            if inputs.multiprocess { "ON" } else { "OFF" }.to_owned(),
        ),
        (
            "IPC_TOOLS",
            if inputs.multiprocess {
                let bin = prefix.join("native/bin");
                format!(
                    "set(CAPNP_EXECUTABLE {} CACHE FILEPATH \"\")\nset(CAPNPC_CXX_EXECUTABLE {} CACHE FILEPATH \"\")",
                    cmake_quote(&bin.join("capnp").display().to_string()),
                    cmake_quote(&bin.join("capnpc-c++").display().to_string())
                )
            } else {
                "# Built without MULTIPROCESS: no Cap'n Proto tools.".to_owned()
            },
        ),
    ];
    let remap_flags = inputs
        .remap
        .iter()
        .map(|(from, to)| toml_quote(&format!("--remap-path-prefix={}={to}", from.display())))
        .collect::<Vec<_>>()
        .join(", ");
    let cargo_vars = [
        ("HOST", host.clone()),
        ("HOST_TOML", toml_quote(host)),
        ("PREFIX_TOML", toml_quote(&prefix.display().to_string())),
        ("PREFIX_TOML_COMMENT", prefix.display().to_string()),
        ("REMAP_FLAGS", remap_flags),
        (
            "PKG_CONFIG_LIBDIR",
            toml_quote(&prefix.join("lib/pkgconfig").display().to_string()),
        ),
        (
            "CMAKE_TOOLCHAIN_VAR",
            format!("CMAKE_TOOLCHAIN_FILE_{}", host.replace('-', "_")),
        ),
        (
            "CMAKE_TOOLCHAIN_FILE",
            toml_quote(&prefix.join(CMAKE_FILE).display().to_string()),
        ),
        (
            "CMAKE_ENV",
            if inputs.cmake {
                format!(
                    "CMAKE = {{ value = {}, force = true }}",
                    toml_quote(&cmake_path(prefix).display().to_string())
                )
            } else {
                "# Built without CXX_IPC: no depends cmake, so no CMAKE.".to_owned()
            },
        ),
        (
            "LINKER",
            toml_quote(&inputs.compilers.cc.path.display().to_string()),
        ),
        (
            "IPC_ENV",
            if inputs.multiprocess {
                format!(
                    "CAPNP = {{ value = {}, force = true }}",
                    toml_quote(&capnp_path(prefix).display().to_string())
                )
            } else {
                "# Built without MULTIPROCESS: no CAPNP, so the multiprocess build refuses to start."
                    .to_owned()
            },
        ),
    ];
    Ok(vec![
        (
            CMAKE_FILE,
            fill(&toolchains_dir.join(CMAKE_TEMPLATE), &cmake_vars)?,
        ),
        (
            CARGO_FILE,
            fill(&toolchains_dir.join(CARGO_TEMPLATE), &cargo_vars)?,
        ),
    ])
}

/// Replaces every `@NAME@` in the template; an unknown name is an error, so
/// a typo in a template cannot reach the generated file.
fn fill(path: &Path, vars: &[(&str, String)]) -> Result<String, TemplateError> {
    let template = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = String::with_capacity(template.len());
    let mut rest = template.as_str();
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('@')
            .ok_or_else(|| TemplateError::UnknownPlaceholder {
                path: path.to_owned(),
                name: after.lines().next().unwrap_or_default().to_owned(),
            })?;
        let name = &after[..end];
        let value = vars.iter().find(|(k, _)| *k == name).ok_or_else(|| {
            TemplateError::UnknownPlaceholder {
                path: path.to_owned(),
                name: name.to_owned(),
            }
        })?;
        out.push_str(&value.1);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn command_line(c: &crate::host::Compiler) -> String {
    c.path.display().to_string()
}

fn cmake_quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$");
    format!("\"{escaped}\"")
}

fn toml_quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{Compiler, Host};

    fn toolchains() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolchains")
    }

    fn compilers(prefix: &str) -> Compilers {
        let c = |name: &str| Compiler {
            path: PathBuf::from(format!("/usr/bin/{prefix}{name}")),
            args: vec![],
        };
        Compilers {
            triple: "t".into(),
            cc: c("gcc"),
            cxx: c("g++"),
        }
    }

    fn render_for(triple: &str, cc_prefix: &str, multiprocess: bool) -> (String, String) {
        let host = Host::load(&toolchains(), triple).unwrap();
        let compilers = compilers(cc_prefix);
        let prefix = PathBuf::from(format!("/work/with \"quote\"/depends/{triple}"));
        let files = render(
            &toolchains(),
            &ToolchainInputs {
                host: &host.spec,
                build_triple: "x86_64-unknown-linux-gnu",
                compilers: &compilers,
                prefix: &prefix,
                multiprocess,
                cmake: multiprocess,
                remap: &[(PathBuf::from("/work/checkout"), ".")],
            },
        )
        .unwrap();
        (files[0].1.clone(), files[1].1.clone())
    }

    #[test]
    fn cargo_config_is_valid_toml_with_absolute_capnp() {
        let (_, cargo) = render_for("x86_64-unknown-linux-gnu", "", true);
        let v: toml::Value = toml::from_str(&cargo).unwrap();
        assert_eq!(
            v["build"]["target"].as_str(),
            Some("x86_64-unknown-linux-gnu")
        );
        let capnp = v["env"]["CAPNP"]["value"].as_str().unwrap();
        assert!(Path::new(capnp).is_absolute());
        assert!(capnp.ends_with("depends/x86_64-unknown-linux-gnu/native/bin/capnp"));
        assert_eq!(
            v["target"]["x86_64-unknown-linux-gnu"]["linker"].as_str(),
            Some("/usr/bin/gcc")
        );
        let flags = v["build"]["rustflags"].as_array().unwrap();
        assert_eq!(
            flags[0].as_str(),
            Some("--remap-path-prefix=/work/checkout=.")
        );
    }

    #[test]
    fn cargo_config_points_pkg_config_and_cmake_at_the_prefix_only() {
        let (_, cargo) = render_for("aarch64-unknown-linux-gnu", "aarch64-linux-gnu-", true);
        let v: toml::Value = toml::from_str(&cargo).unwrap();
        let env = |key: &str| v["env"][key]["value"].as_str().unwrap().to_owned();
        let prefix = "/work/with \"quote\"/depends/aarch64-unknown-linux-gnu";
        assert_eq!(env("PKG_CONFIG_LIBDIR"), format!("{prefix}/lib/pkgconfig"));
        assert!(v["env"].get("PKG_CONFIG_PATH").is_none());
        assert_eq!(env("PKG_CONFIG_ALLOW_CROSS"), "1");
        assert_eq!(env("CMAKE"), format!("{prefix}/native/bin/cmake"));
        assert_eq!(
            env("CMAKE_TOOLCHAIN_FILE_aarch64_unknown_linux_gnu"),
            format!("{prefix}/toolchain.cmake")
        );
    }

    #[test]
    fn without_multiprocess_there_is_no_capnp() {
        let (cmake, cargo) = render_for("x86_64-unknown-linux-gnu", "", false);
        let v: toml::Value = toml::from_str(&cargo).unwrap();
        assert!(v["env"].get("CAPNP").is_none());
        assert!(v["env"].get("CMAKE").is_none());
        assert!(cmake.contains("set(ENABLE_IPC OFF"));
        assert!(!cmake.contains("CAPNP_EXECUTABLE"));
    }

    #[test]
    fn cross_cmake_names_system_and_cross_compilers() {
        let (cmake, cargo) = render_for("aarch64-unknown-linux-gnu", "aarch64-linux-gnu-", true);
        assert!(cmake.contains("set(CMAKE_SYSTEM_NAME Linux)"));
        assert!(cmake.contains("set(CMAKE_SYSTEM_PROCESSOR aarch64)"));
        assert!(cmake.contains("set(CMAKE_C_COMPILER \"/usr/bin/aarch64-linux-gnu-gcc\")"));
        assert!(cmake.contains("set(ENABLE_IPC ON"));
        assert!(
            cmake.contains("with \\\"quote\\\"/depends/aarch64-unknown-linux-gnu/native/bin/capnp")
        );
        let v: toml::Value = toml::from_str(&cargo).unwrap();
        assert_eq!(
            v["target"]["aarch64-unknown-linux-gnu"]["linker"].as_str(),
            Some("/usr/bin/aarch64-linux-gnu-gcc")
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(CMAKE_TEMPLATE), "x @NOPE@ y").unwrap();
        let err = fill(&t.path().join(CMAKE_TEMPLATE), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("@NOPE@"), "{err}");
    }
}
