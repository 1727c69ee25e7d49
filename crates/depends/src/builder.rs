//! Builds one package: unpack its source in a scratch directory, run its
//! build, install the recipe's files into a staging prefix and pack that
//! into the package's deterministic archive.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{self, ArchiveError};
use crate::cmake_step::CmakeStep;
use crate::host::{Compiler, Compilers};
use crate::plan::PlannedPackage;
use crate::progress::Progress;
use crate::recipe::{BuildStyle, PatchFile};
use crate::schedule::JobBudget;

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
    /// The build machine's triple (native packages are built for it).
    pub build_triple: &'a str,
    /// Compilers for native packages (the build machine's).
    pub native: &'a Compilers,
    /// Compilers for the host.
    pub host: &'a Compilers,
    /// The run's shared `-j` budget (a make jobserver).
    pub jobs: &'a JobBudget,
    /// `toolchain.cmake` for a package (native or not) whose dependencies
    /// are unpacked at the given prefix; used by cmake-style packages.
    pub cmake_toolchain: &'a dyn Fn(bool, &Path) -> Result<String, String>,
    /// The program (and its leading arguments) that runs a
    /// [`CmakeStep`] file in a child process; see [`crate::cmake_step`].
    pub cmake_driver: &'a [OsString],
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
    #[error(
        "{package}: patch {patch} does not apply to {file}: {message}; nothing was built (fix or refresh the patch in depends/patches/{package}/)"
    )]
    Patch {
        package: String,
        patch: String,
        file: String,
        message: String,
    },
    #[error("{package}: {what}")]
    Setup { package: String, what: String },
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
    // Native packages are built for the build machine, the same for every
    // host: their scratch tree, log and baked prefix say its triple.
    let triple = if spec.native {
        env.build_triple
    } else {
        env.host_triple
    };
    let scratch = env
        .work_dir
        .join("build")
        .join(triple)
        .join(format!("{name}-{}", &pkg.build_id[..12]));
    let logs = env.work_dir.join("logs").join(triple);
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
    if !pkg.recipe.patches.is_empty() {
        progress.step(&name, "patch");
        for patch in &pkg.recipe.patches {
            apply_patch(&name, &src, patch)?;
        }
    }

    let options = spec.build.options_for(triple);
    let compilers = if spec.native { env.native } else { env.host };
    let map_paths = format!("-ffile-prefix-map={}=.", scratch.display());
    let cflags: Vec<String> = with_map(&options.cflags, &map_paths);
    let cxxflags: Vec<String> = with_map(&options.cxxflags, &map_paths);
    let flags = |c: &Compiler, extra: &[String]| -> OsString {
        let mut all: Vec<&str> = c.args.iter().map(String::as_str).collect();
        all.extend(extra.iter().map(String::as_str));
        all.join(" ").into()
    };
    let build_env: Vec<(&str, OsString)> = vec![
        ("CC", compilers.cc.path.clone().into()),
        ("CXX", compilers.cxx.path.clone().into()),
        ("CFLAGS", flags(&compilers.cc, &cflags)),
        ("CXXFLAGS", flags(&compilers.cxx, &cxxflags)),
        // Dependencies' files, for packages that need them.
        ("DEPENDS_PREFIX", deps.clone().into()),
        // Locale and time zone must not leak into outputs.
        ("LC_ALL", "C".into()),
        ("TZ", "UTC".into()),
        ("SOURCE_DATE_EPOCH", "0".into()),
    ];

    // Without a trailing `/` (`join("")` would add one): `.pc` files and
    // cmake name `<prefix>/lib`, which relocation must match whole.
    let mut prefix = Path::new(BAKED_PREFIX).join(triple);
    if spec.native {
        prefix.push(package_prefix(true));
    }
    // `make install` / cmake's install target write below
    // `<destdir>/<prefix>`; that subtree becomes the package's staging.
    let destdir = scratch.join("destdir");
    // Every make takes its parallel jobs from the run's jobserver (never
    // `-jN`, which would make it leave the jobserver).
    let make_program = || {
        let mut make = Command::new(std::env::var_os("MAKE").unwrap_or_else(|| "make".into()));
        env.jobs.share_with(&mut make);
        make
    };
    match spec.build.style {
        BuildStyle::Autotools | BuildStyle::Make => {
            let configure = match spec.build.style {
                BuildStyle::Autotools => {
                    let mut configure = Command::new("sh");
                    configure
                        .arg("./configure")
                        .arg(format!("--prefix={}", prefix.display()));
                    if !spec.native {
                        configure.arg(format!("--host={}", env.host_gnu_triple));
                    }
                    configure.args(&options.configure_options);
                    Some(configure)
                }
                _ => spec
                    .build
                    .configure_command
                    .split_first()
                    .map(|(program, args)| {
                        let expand = |a: &String| {
                            a.replace("{prefix}", &prefix.display().to_string())
                                .replace("{jobs}", &env.jobs.jobs().to_string())
                        };
                        let mut configure = Command::new(expand(program));
                        configure.args(args.iter().map(expand));
                        configure
                    }),
            };
            if let Some(mut configure) = configure {
                step.run(
                    "configure",
                    configure.current_dir(&src).envs(build_env.clone()),
                )?;
            }
            let mut make = make_program();
            make.args(&spec.build.make_targets);
            step.run("make", make.current_dir(&src).envs(build_env.clone()))?;
            if spec.build.staged_install {
                let mut install = make_program();
                install
                    .arg("install")
                    .arg(format!("DESTDIR={}", destdir.display()));
                step.run("make install", install.current_dir(&src).envs(build_env))?;
            }
        }
        BuildStyle::Cmake => {
            let setup_err = |what: String| BuildError::Setup {
                package: name.clone(),
                what,
            };
            let (driver, driver_args) = env.cmake_driver.split_first().ok_or_else(|| {
                setup_err(
                    "cmake packages need a cmake driver program, and this run has none".into(),
                )
            })?;
            let cmake = deps.join("native/bin/cmake");
            if !cmake.is_file() {
                return Err(setup_err(format!(
                    "the depends cmake is missing at {} (native_cmake did not install bin/cmake)",
                    cmake.display()
                )));
            }
            let toolchain = scratch.join("toolchain.cmake");
            let toolchain_text = (env.cmake_toolchain)(spec.native, &deps).map_err(setup_err)?;
            fs::write(&toolchain, toolchain_text).map_err(io_err("writing toolchain.cmake"))?;
            let cmake_step = CmakeStep {
                source: src.clone(),
                target: triple.to_owned(),
                build_triple: env.build_triple.to_owned(),
                toolchain_file: toolchain,
                install_prefix: prefix.clone(),
                defines: options.defines.clone(),
                cflags,
                cxxflags,
                targets: spec.build.make_targets.clone(),
                install: spec.build.staged_install,
            };
            let step_file = scratch.join("cmake-step.json");
            cmake_step
                .write(&step_file)
                .map_err(io_err("writing the cmake step"))?;
            let mut run = Command::new(driver);
            run.args(driver_args)
                .arg(&step_file)
                .current_dir(&src)
                .envs(build_env)
                .env("CMAKE", &cmake)
                .env("NUM_JOBS", env.jobs.jobs().to_string())
                .env("DESTDIR", &destdir);
            // The cmake crate hands CARGO_MAKEFLAGS (our jobserver) on to
            // the make that `cmake --build` runs.
            env.jobs.share_with(&mut run);
            step.run("cmake", &mut run)?;
        }
    }

    progress.step(&name, "install");
    let dest_root = staging.join(package_prefix(spec.native));
    if spec.build.staged_install {
        let installed = destdir.join(prefix.strip_prefix("/").expect("absolute prefix"));
        if !installed.is_dir() {
            return Err(BuildError::MissingOutput {
                package: name.clone(),
                file: installed.display().to_string(),
                log: log_path.clone(),
            });
        }
        if let Some(parent) = dest_root.parent() {
            fs::create_dir_all(parent).map_err(io_err("creating the staging tree"))?;
        }
        fs::rename(&installed, &dest_root).map_err(io_err("moving the staged install"))?;
        relocate_pkg_config(&dest_root, &prefix).map_err(io_err("rewriting .pc files"))?;
    }
    for rule in &pkg.recipe.spec.install {
        let dest_dir = dest_root.join(rule.to.as_path());
        fs::create_dir_all(&dest_dir).map_err(io_err("creating the staging tree"))?;
        for file in &rule.files {
            let from = src.join(file.as_path());
            let to = dest_dir.join(
                file.as_path()
                    .file_name()
                    .expect("relative path has a name"),
            );
            if from.is_dir() {
                copy_tree(&from, &to).map_err(io_err("copying into staging"))?;
                continue;
            }
            if !from.is_file() {
                return Err(BuildError::MissingOutput {
                    package: name.clone(),
                    file: file.as_str().to_owned(),
                    log: log_path.clone(),
                });
            }
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

fn with_map(flags: &[String], map_paths: &str) -> Vec<String> {
    let mut all = flags.to_vec();
    all.push(map_paths.to_owned());
    all
}

/// Applies one patch file (one or more files' unified diffs, paths with a
/// leading `a/`/`b/` component as `git diff` and `diff -ru` write them) to
/// the tree at `src`. Every file is checked before any is written, so a
/// patch that does not apply changes nothing.
fn apply_patch(package: &str, src: &Path, patch: &PatchFile) -> Result<(), BuildError> {
    let fail = |file: &str, message: String| BuildError::Patch {
        package: package.to_owned(),
        patch: patch.name.clone(),
        file: file.to_owned(),
        message,
    };
    let mut patched: Vec<(PathBuf, String)> = Vec::new();
    for section in file_sections(&patch.text) {
        let parsed = diffy::Patch::from_str(section).map_err(|e| fail("?", e.to_string()))?;
        let target = parsed
            .modified()
            .filter(|m| *m != "/dev/null")
            .or(parsed.original())
            .ok_or_else(|| fail("?", "a section names no file".into()))?;
        let relative = strip_first_component(target);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(fail(target, "the path leaves the source tree".into()));
        }
        let path = src.join(&relative);
        let original = if parsed.original().is_some_and(|o| o == "/dev/null") {
            String::new()
        } else {
            fs::read_to_string(&path).map_err(|e| fail(target, format!("cannot read it: {e}")))?
        };
        let text = diffy::apply(&original, &parsed).map_err(|e| fail(target, e.to_string()))?;
        patched.push((path, text));
    }
    if patched.is_empty() {
        return Err(fail("?", "it holds no unified diff".into()));
    }
    for (path, text) in patched {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
        }
        fs::write(&path, text).map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
    }
    Ok(())
}

/// Splits a patch into one unified diff per file: each starts at a `--- `
/// line that a `+++ ` line follows.
fn file_sections(text: &str) -> Vec<&str> {
    let mut starts = Vec::new();
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("--- ") && lines.peek().is_some_and(|next| next.starts_with("+++ ")) {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &text[start..starts.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// `a/src/x.c` -> `src/x.c` (patch -p1); also drops a trailing tab + date.
fn strip_first_component(path: &str) -> PathBuf {
    let path = path.split('\t').next().unwrap_or(path);
    let mut components = Path::new(path).components();
    components.next();
    components.as_path().to_owned()
}

/// Copies a directory tree: files with their mode, symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// `pkg-config` files name the prefix they were configured with, which is
/// fixed and not where the package ends up: every mention of it becomes
/// `${pcfiledir}/../..` (the `.pc` files are in `<prefix>/lib/pkgconfig`),
/// so the prefix works wherever it is unpacked and the archive stays free
/// of checkout paths.
fn relocate_pkg_config(root: &Path, prefix: &Path) -> io::Result<()> {
    let dir = root.join("lib/pkgconfig");
    if !dir.is_dir() {
        return Ok(());
    }
    let prefix = prefix.display().to_string();
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "pc") {
            let text = fs::read_to_string(&path)?;
            fs::write(&path, text.replace(&prefix, PC_RELATIVE_PREFIX))?;
        }
    }
    Ok(())
}

/// What `.pc` files say instead of the fixed prefix.
pub const PC_RELATIVE_PREFIX: &str = "${pcfiledir}/../..";

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
    /// Runs `cmd` with stdout and stderr into one pipe; every line goes to
    /// the log, and the latest one to the package's progress line.
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
        let (reader, writer) = io::pipe().map_err(|e| failed(e.to_string()))?;
        let writer_too = writer.try_clone().map_err(|e| failed(e.to_string()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer_too)
            .spawn();
        // The command keeps its copies of the write end until they are
        // replaced; the read below ends only when every copy is closed.
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child =
            child.map_err(|e| failed(format!("cannot start {:?}: {e}", cmd.get_program())))?;
        let mut lines = io::BufReader::new(reader);
        let mut line = Vec::new();
        while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let _ = self.log.write_all(&line);
            self.progress
                .output(self.package, &String::from_utf8_lossy(&line));
            line.clear();
        }
        let status = child.wait().map_err(|e| failed(e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(status.to_string()))
        }
    }
}
