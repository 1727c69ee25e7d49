//! `cargo xtask verify-reproducible`: builds the depends tree and the
//! release executables twice, from two checkouts of HEAD at paths of
//! different lengths, with different umask, TZ and locale, the second
//! without network, and compares the bytes. The comparing lives in
//! `kestrel_depends::reproducible`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use kestrel_depends::fetch::sha256_file;
use kestrel_depends::install::{hash_tree, FileRecord, Manifest};
use kestrel_depends::progress::Progress;
use kestrel_depends::reproducible::{
    compare_files, compare_manifests, compare_trees, sha256sums, Difference, PATH_BEARING_FILES,
};
use kestrel_depends::{Config, Depends};
use xshell::{cmd, Cmd, Shell};

use crate::build::product_args;
use crate::{step, workspace_root, BUILD_TRIPLE};

#[derive(Args)]
pub struct VerifyReproducibleCmd {
    /// Host triple to build for (default: this machine's).
    #[arg(long, default_value = BUILD_TRIPLE)]
    pub host: String,
    /// Commit or tag to build (default HEAD; a release tag reproduces that
    /// release).
    #[arg(long, default_value = "HEAD")]
    pub commit: String,
    /// Keep the two checkouts and their build trees even when all matched.
    #[arg(long)]
    pub keep: bool,
    /// Leave out the opt-in C++ IPC set (native_cmake and the capnp
    /// libraries; built and compared by default, several minutes a build).
    #[arg(long)]
    pub no_cxx_ipc: bool,
}

/// The product's two builds (name, multiprocess); each is built and
/// compared.
const FLAVORS: &[(&str, bool)] = &[("monolithic", false), ("multiprocess", true)];

/// Variables passed through to the builds; everything else is cleared so
/// the two builds differ only where this command makes them differ.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "CC",
    "CXX",
    "STRIP",
    "MAKE",
];

/// One of the two builds and the environment that sets it apart.
struct Checkout {
    label: &'static str,
    dir: PathBuf,
    umask: &'static str,
    tz: &'static str,
    locale: &'static str,
    /// Run in a new network namespace with cargo offline.
    no_network: bool,
}

impl Checkout {
    /// `program` run under this build's umask and environment (and without
    /// network when `no_network`), in the shell's current directory.
    fn command<'a>(&self, sh: &'a Shell, program: &str, sources: &Path) -> Cmd<'a> {
        // umask is process state, not environment: set it in a shell that
        // then becomes the program.
        let umask_then_exec = "umask \"$0\" && exec \"$@\"";
        let umask = self.umask;
        let in_shell = if self.no_network {
            cmd!(
                sh,
                "unshare --net -- sh -c {umask_then_exec} {umask} {program}"
            )
        } else {
            cmd!(sh, "sh -c {umask_then_exec} {umask} {program}")
        };
        let passed = PASSED_ENV
            .iter()
            .filter_map(|name| Some((name, std::env::var_os(name)?)));
        in_shell
            .env_clear()
            .envs(passed)
            .env("TZ", self.tz)
            .env("LANG", self.locale)
            .env("LC_ALL", self.locale)
            .env("CARGO_TARGET_DIR", self.dir.join("target"))
            .env("SOURCES_PATH", sources)
            .envs(self.no_network.then_some(("CARGO_NET_OFFLINE", "true")))
    }

    fn bins_dir(&self) -> PathBuf {
        self.dir.with_extension("bins")
    }
}

impl VerifyReproducibleCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = workspace_root();
        let host = &self.host;
        let commit = git_output(
            sh,
            &[
                "rev-parse",
                "--verify",
                &format!("{}^{{commit}}", self.commit),
            ],
        )?;
        println!("verifying commit {commit} for {host}");
        if self.commit == "HEAD"
            && !git_output(sh, &["status", "--porcelain", "--untracked-files=no"])?.is_empty()
        {
            println!(
                "note: uncommitted changes are not included; only the committed tree is built"
            );
        }

        // Sources come from this checkout's verified cache, so the builds
        // need no network for them.
        let mut config = Config::new(&root, host, BUILD_TRIPLE);
        config.cxx_ipc = !self.no_cxx_ipc;
        if let Some(dir) = std::env::var_os("SOURCES_PATH") {
            config.sources_dir = dir.into();
        }
        let sources = std::path::absolute(&config.sources_dir)?;
        step("sources (verified against the pinned hashes)");
        for path in Depends::load(config, Progress::for_stderr())?.download()? {
            println!("{}", path.display());
        }

        let no_network = unshare_available(sh);
        let work =
            std::env::temp_dir().join(format!("kestrel-reproducible-{}", std::process::id()));
        sh.remove_path(&work)?;
        sh.create_dir(&work)?;
        let checkouts = [
            Checkout {
                label: "first",
                dir: work.join("a"),
                umask: "022",
                tz: "UTC",
                locale: "C.UTF-8",
                no_network: false,
            },
            Checkout {
                label: "second",
                dir: work.join("second-checkout-at-a-longer-path"),
                umask: "077",
                tz: "NZST-12NZDT",
                locale: "POSIX",
                no_network,
            },
        ];
        for checkout in &checkouts {
            self.build(sh, &root, &commit, checkout, &sources)?;
        }

        let [first, second] = &checkouts;
        let mut differences = 0;
        step("compare");
        let manifest = |c: &Checkout| {
            let prefix = c.dir.join("depends").join(host);
            Manifest::read(&prefix)
                .with_context(|| format!("no readable manifest in {}", prefix.display()))
        };
        let (m1, m2) = (manifest(first)?, manifest(second)?);
        let compared = m1
            .files
            .keys()
            .filter(|path| !PATH_BEARING_FILES.contains(&path.as_str()))
            .count();
        differences += report(
            &format!(
                "depends/{host}/manifest.json ({compared} files; {} left out: they name the checkout path by design)",
                PATH_BEARING_FILES.join(", ")
            ),
            &compare_manifests(&m1, &m2),
        );
        let built = |c: &Checkout| c.dir.join("depends/built").join(host);
        differences += report(
            &format!("depends/built/{host}/ archives ({})", list(&built(first))?),
            &compare_trees(&built(first), &built(second))?,
        );
        let lock_file = |c: &Checkout| -> Result<BTreeMap<String, FileRecord>> {
            let path = c.dir.join("Cargo.lock");
            let record = FileRecord {
                sha256: sha256_file(&path)
                    .with_context(|| format!("hashing {}", path.display()))?,
                size: fs::metadata(&path)?.len(),
            };
            Ok(BTreeMap::from([("Cargo.lock".to_owned(), record)]))
        };
        differences += report(
            "Cargo.lock as cargo resolved it",
            &compare_files(&lock_file(first)?, &lock_file(second)?, &[]),
        );
        let binaries = hash_tree(&first.bins_dir())?;
        differences += report(
            &format!(
                "release executables ({})",
                binaries.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            &compare_trees(&first.bins_dir(), &second.bins_dir())?,
        );
        if differences > 0 {
            bail!(
                "{differences} files differ between the two builds; both trees are kept in {}",
                work.display()
            );
        }

        let release = root.join("target/reproducible").join(host);
        sh.remove_path(&release)?;
        sh.create_dir(release.parent().expect("release dir has a parent"))?;
        let bins = first.bins_dir();
        cmd!(sh, "cp -R {bins} {release}").run()?;
        let sums_path = release.join("SHA256SUMS");
        fs::write(&sums_path, sha256sums(&binaries))
            .with_context(|| format!("writing {}", sums_path.display()))?;
        print!("\n{}", sha256sums(&binaries));
        println!(
            "reproducible: all files match. SHA256SUMS: {} (check with: cd {} && sha256sum -c SHA256SUMS)",
            sums_path.display(),
            release.display()
        );
        if self.keep {
            println!("kept the checkouts in {}", work.display());
        } else {
            sh.remove_path(&work)?;
        }
        Ok(())
    }

    /// Clone, depends, and the release build of every flavor in `checkout`;
    /// the executables are copied to its `bins_dir`, one dir per flavor.
    fn build(
        &self,
        sh: &Shell,
        root: &Path,
        commit: &str,
        checkout: &Checkout,
        sources: &Path,
    ) -> Result<()> {
        let host = &self.host;
        let c = checkout;
        step(&format!(
            "{} build in {} (umask {}, TZ={}, LC_ALL={}{})",
            c.label,
            c.dir.display(),
            c.umask,
            c.tz,
            c.locale,
            if c.no_network { ", no network" } else { "" }
        ));
        // The clone runs in the parent; it gets the build's umask too, so
        // the checked-out files' modes differ between the two builds.
        {
            let _parent = sh.push_dir(c.dir.parent().expect("checkout dir has a parent"));
            let dir = &c.dir;
            c.command(sh, "git", sources)
                .args(["clone", "--quiet", "--local", "--no-checkout"])
                .arg(root)
                .arg(dir)
                .run()?;
        }
        let _checkout = sh.push_dir(&c.dir);
        c.command(sh, "git", sources)
            .args(["checkout", "--quiet", "--detach", commit])
            .run()?;
        let offline = c.no_network.then_some("--offline");
        if !c.no_network {
            // Fills cargo's cache for the lock file of this commit, so the
            // build without network finds every crate.
            c.command(sh, "cargo", sources).arg("fetch").run()?;
        }
        c.command(sh, "cargo", sources)
            .args(["xtask", "depends", "--host", host, "--multiprocess"])
            .args((!self.no_cxx_ipc).then_some("--cxx-ipc"))
            .args(offline)
            .run()?;
        let cargo_config = c.dir.join("depends").join(host).join("cargo-config.toml");
        let release_dir = c.dir.join("target").join(host).join("release");
        for &(flavor, multiprocess) in FLAVORS {
            c.command(sh, "cargo", sources)
                .args(["build", "--release", "--config"])
                .arg(&cargo_config)
                .args(offline)
                .args(product_args(multiprocess))
                .run()?;
            copy_executables(&release_dir, &c.bins_dir().join(flavor))?;
        }
        // Not --locked: a stale committed lock file would stop the check
        // before it compares anything. Cargo resolved it again instead
        // (offline in the second build), and the two results are compared.
        let lock_status = git_output(sh, &["status", "--porcelain", "Cargo.lock"])?;
        if !lock_status.is_empty() {
            println!(
                "warning: Cargo.lock of commit {commit} is out of date with its Cargo.toml files; \
                 cargo updated it in the checkout. Commit the updated Cargo.lock so a release \
                 builds with --locked."
            );
        }
        Ok(())
    }
}

/// Whether `unshare --net` works here (it needs root or user namespaces);
/// says what the second build loses when it does not.
fn unshare_available(sh: &Shell) -> bool {
    match cmd!(sh, "unshare --net true")
        .quiet()
        .ignore_status()
        .output()
    {
        Ok(out) if out.status.success() => true,
        result => {
            let why = match result {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            println!(
                "warning: `unshare --net` is unavailable ({why}); the second build runs with \
                 cargo --offline and `depends --offline` but can still reach the network. \
                 Run as root (or with user namespaces enabled) to build without network."
            );
            false
        }
    }
}

/// Prints the outcome of one comparison; returns the number of differences.
fn report(what: &str, differences: &[Difference]) -> usize {
    if differences.is_empty() {
        println!("match: {what}");
    } else {
        println!("DIFFER: {what}: {} files", differences.len());
        for d in differences {
            println!("  {}", d.to_string().replace('\n', "\n  "));
        }
    }
    differences.len()
}

fn list(dir: &Path) -> Result<String> {
    Ok(hash_tree(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .into_keys()
        .collect::<Vec<_>>()
        .join(", "))
}

/// Copies the executables cargo put directly in `release_dir` (not its
/// `deps/`, `build/`, libraries or `.d` files) into `to`.
fn copy_executables(release_dir: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut copied = 0;
    for entry in
        fs::read_dir(release_dir).with_context(|| format!("reading {}", release_dir.display()))?
    {
        let path = entry?.path();
        let meta = fs::metadata(&path)?;
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 && path.extension().is_none() {
            fs::copy(&path, to.join(path.file_name().expect("a file has a name")))
                .with_context(|| format!("copying {}", path.display()))?;
            copied += 1;
        }
    }
    if copied == 0 {
        bail!(
            "the release build left no executables in {}",
            release_dir.display()
        );
    }
    Ok(())
}

/// What `git <args>` prints in the shell's current directory, trimmed.
fn git_output(sh: &Shell, args: &[&str]) -> Result<String> {
    let out = cmd!(sh, "git {args...}").quiet().ignore_status().output()?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            sh.current_dir().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
