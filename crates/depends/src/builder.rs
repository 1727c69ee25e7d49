//! Builds one package: unpack its source in a scratch directory, run its
//! build, install the recipe's files into a staging prefix and pack that
//! into the package's deterministic archive.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{self, ArchiveError};
use crate::host::{Compiler, Compilers};
use crate::plan::PlannedPackage;
use crate::progress::Progress;
use crate::recipe::BuildStyle;

/// The install prefix baked into built tools. Fixed, so it never depends on
/// where the checkout is (Cap'n Proto compiles its prefix into `capnp`);
/// files are installed into staging instead and callers pass include paths.
pub const BAKED_PREFIX: &str = "/kestrel-depends";

/// Everything a package build needs besides its recipe.
pub struct BuildEnv<'a> {
    /// Where scratch trees and logs go (`depends/work`).
    pub work_dir: &'a Path,
    pub host_triple: &'a str,
    pub host_gnu_triple: &'a str,
    /// Compilers for native packages (the build machine's).
    pub native: &'a Compilers,
    /// Compilers for the host.
    pub host: &'a Compilers,
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{package}: {step} failed ({status}); full log kept at {log} (scratch tree: {scratch})"
    )]
    StepFailed {
        package: String,
        step: String,
        status: String,
        log: PathBuf,
        scratch: PathBuf,
    },
    #[error("{package}: the recipe installs {file}, which the build did not produce; log: {log}")]
    MissingOutput {
        package: String,
        file: String,
        log: PathBuf,
    },
    #[error("{package}: {source}")]
    Archive {
        package: String,
        source: ArchiveError,
    },
    #[error("{package}: {context}: {source}")]
    Io {
        package: String,
        context: String,
        source: io::Error,
    },
}

/// Where a package's files go inside `depends/<host>/`.
pub fn package_prefix(native: bool) -> &'static str {
    if native {
        "native"
    } else {
        ""
    }
}

/// Builds `pkg` from `source` with its dependencies' archives unpacked into
/// a private prefix, and packs the result into `out_archive`. On failure the
/// scratch tree and the full log stay for inspection and `out_archive` is
/// not written; on success both are removed.
pub fn build(
    pkg: &PlannedPackage,
    source: &Path,
    dependency_archives: &[PathBuf],
    env: &BuildEnv,
    out_archive: &Path,
    progress: &Progress,
) -> Result<(), BuildError> {
    let name = pkg.name().to_string();
    let spec = &pkg.recipe.spec;
    let io_err = |context: &str| {
        let package = name.clone();
        let context = context.to_owned();
        move |source| BuildError::Io {
            package,
            context,
            source,
        }
    };
    let scratch = env
        .work_dir
        .join("build")
        .join(env.host_triple)
        .join(format!("{name}-{}", &pkg.build_id[..12]));
    let logs = env.work_dir.join("logs").join(env.host_triple);
    let log_path = logs.join(format!("{name}.log"));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).map_err(io_err("removing an old scratch tree"))?;
    }
    fs::create_dir_all(&logs).map_err(io_err("creating the log directory"))?;
    let src = scratch.join("src");
    let deps = scratch.join("deps");
    let staging = scratch.join("staging");
    let mut step = Step {
        package: &name,
        log: File::create(&log_path).map_err(io_err("creating the build log"))?,
        log_path: &log_path,
        scratch: &scratch,
        progress,
    };

    progress.step(&name, "extract");
    let archive_err = |source| BuildError::Archive {
        package: name.clone(),
        source,
    };
    archive::unpack(source, &src, 1).map_err(archive_err)?;
    for dep in dependency_archives {
        archive::unpack(dep, &deps, 0).map_err(archive_err)?;
    }

    let compilers = if spec.native { env.native } else { env.host };
    let map_paths = format!("-ffile-prefix-map={}=.", scratch.display());
    let flags = |c: &Compiler, extra: &[String]| -> OsString {
        let mut all: Vec<&str> = c.args.iter().map(String::as_str).collect();
        all.extend(extra.iter().map(String::as_str));
        all.push(&map_paths);
        all.join(" ").into()
    };
    let build_env: Vec<(&str, OsString)> = vec![
        ("CC", compilers.cc.path.clone().into()),
        ("CXX", compilers.cxx.path.clone().into()),
        ("CFLAGS", flags(&compilers.cc, &spec.build.cflags)),
        ("CXXFLAGS", flags(&compilers.cxx, &spec.build.cxxflags)),
        // Dependencies' files, for packages that need them.
        ("DEPENDS_PREFIX", deps.clone().into()),
        // Locale and time zone must not leak into outputs.
        ("LC_ALL", "C".into()),
        ("TZ", "UTC".into()),
        ("SOURCE_DATE_EPOCH", "0".into()),
    ];

    let prefix = Path::new(BAKED_PREFIX)
        .join(env.host_triple)
        .join(package_prefix(spec.native));
    if spec.build.style == BuildStyle::Autotools {
        let mut configure = Command::new("sh");
        configure
            .arg("./configure")
            .arg(format!("--prefix={}", prefix.display()));
        if !spec.native {
            configure.arg(format!("--host={}", env.host_gnu_triple));
        }
        configure.args(&spec.build.configure_options);
        step.run(
            "configure",
            configure.current_dir(&src).envs(build_env.clone()),
        )?;
    }
    let mut make = Command::new(std::env::var_os("MAKE").unwrap_or_else(|| "make".into()));
    make.arg(format!("-j{}", env.jobs.max(1)))
        .args(&spec.build.make_targets);
    step.run("make", make.current_dir(&src).envs(build_env))?;

    progress.step(&name, "install");
    let dest_root = staging.join(package_prefix(spec.native));
    for rule in &pkg.recipe.spec.install {
        let dest_dir = dest_root.join(&rule.to);
        fs::create_dir_all(&dest_dir).map_err(io_err("creating the staging tree"))?;
        for file in &rule.files {
            let from = src.join(file);
            if !from.is_file() {
                return Err(BuildError::MissingOutput {
                    package: name.clone(),
                    file: file.clone(),
                    log: log_path.clone(),
                });
            }
            let to = dest_dir.join(Path::new(file).file_name().expect("file path has a name"));
            fs::copy(&from, &to).map_err(io_err("copying into staging"))?;
            if rule.strip {
                let mut strip = Command::new(strip_tool(spec.native, env.host_gnu_triple));
                step.run("strip", strip.arg(&to))?;
            }
        }
    }

    progress.step(&name, "pack");
    archive::pack_deterministic(&staging, out_archive).map_err(archive_err)?;
    drop(step);
    // Kept only on failure, as depends does.
    fs::remove_dir_all(&scratch).map_err(io_err("removing the scratch tree"))?;
    fs::remove_file(&log_path).map_err(io_err("removing the build log"))?;
    Ok(())
}

/// `STRIP` if set, else `strip` for native packages and the cross prefix's
/// strip for host packages.
fn strip_tool(native: bool, gnu_triple: &str) -> OsString {
    std::env::var_os("STRIP").unwrap_or_else(|| {
        if native {
            "strip".into()
        } else {
            format!("{gnu_triple}-strip").into()
        }
    })
}

/// Runs the steps of one build, appending each command and its output to
/// the package's log.
struct Step<'a> {
    package: &'a str,
    log: File,
    log_path: &'a Path,
    scratch: &'a Path,
    progress: &'a Progress,
}

impl Step<'_> {
    fn run(&mut self, step: &str, cmd: &mut Command) -> Result<(), BuildError> {
        self.progress.step(self.package, step);
        let failed = |status: String| BuildError::StepFailed {
            package: self.package.to_owned(),
            step: step.to_owned(),
            status,
            log: self.log_path.to_owned(),
            scratch: self.scratch.to_owned(),
        };
        let _ = writeln!(self.log, "+ {cmd:?}");
        let out = self.log.try_clone().map_err(|e| failed(e.to_string()))?;
        let err = self.log.try_clone().map_err(|e| failed(e.to_string()))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| failed(format!("cannot start {:?}: {e}", cmd.get_program())))?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(status.to_string()))
        }
    }
}
