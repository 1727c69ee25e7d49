//! A `depends` run for one host: plan, fetch, build what changed, install.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context, Result};

use crate::build_order;
use crate::builder::{self, BuildEnv};
use crate::fetch::{self, FetchConfig, FetchEvent, SourceSpec};
use crate::host::{Compilers, Host, IdentifiedCompilers, Output};
use crate::install::{self, InstalledPackage, Manifest};
use crate::lock::TreeLock;
use crate::mirror::Mirrors;
use crate::plan::{self, HostIdentity, PlannedPackage};
use crate::progress::Progress;
use crate::recipe::{Recipe, RecipeBook, CMAKE_PACKAGE};
use crate::remote::{Mode, RemoteConfig, RemoteStore};
use crate::schedule::{self, JobBudget};
use crate::toolchain_files::{self, ToolchainInputs};

/// Settings of one run; see `cargo xtask depends --help` for where each
/// comes from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The workspace root: holds `depends/` and `toolchains/`.
    pub root: PathBuf,
    /// The triple to build for.
    pub host: String,
    /// The triple of this machine.
    pub build_triple: String,
    /// Include the IPC package set (`MULTIPROCESS`).
    pub multiprocess: bool,
    /// Include the opt-in C++ IPC set (`CXX_IPC`): the host's Cap'n Proto
    /// libraries and the depends cmake.
    pub cxx_ipc: bool,
    pub jobs: usize,
    pub offline: bool,
    pub fallback_url: Option<String>,
    /// The source cache (`depends/sources` or `SOURCES_PATH`).
    pub sources_dir: PathBuf,
    /// Built archives, one directory per host (`depends/built` or
    /// `BASE_CACHE`).
    pub base_cache: PathBuf,
    /// The remote cache, if any; opened only when a package is missing
    /// locally, so a no-op run sends no request.
    pub remote: Option<RemoteConfig>,
    pub mirrors: Mirrors,
    /// The program (and leading arguments) that runs a cmake package's
    /// step file in a child process ([`crate::cmake_step`]); empty: this
    /// run cannot build cmake-style packages.
    pub cmake_driver: Vec<OsString>,
}

impl Config {
    /// Defaults for `root`: cache in `depends/sources`, the environment's
    /// and apt's mirrors, as many jobs as cores, online.
    pub fn new(root: &Path, host: &str, build_triple: &str) -> Config {
        Config {
            root: root.to_owned(),
            host: host.to_owned(),
            build_triple: build_triple.to_owned(),
            multiprocess: true,
            cxx_ipc: false,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            offline: false,
            fallback_url: None,
            sources_dir: root.join("depends/sources"),
            base_cache: root.join("depends/built"),
            remote: None,
            mirrors: Mirrors::from_env_and_apt(Path::new("/etc/apt")),
            cmake_driver: Vec::new(),
        }
    }

    pub fn depends_dir(&self) -> PathBuf {
        self.root.join("depends")
    }

    /// `depends/<host>`: where packages and toolchain files end up.
    pub fn prefix(&self) -> PathBuf {
        self.depends_dir().join(&self.host)
    }

    /// The triple `pkg` runs on: native packages run on the build machine,
    /// so their archives (local and remote) are the build machine's and
    /// every host built on this machine reuses them.
    pub fn triple_of(&self, pkg: &PlannedPackage) -> &str {
        if pkg.recipe.spec.native {
            &self.build_triple
        } else {
            &self.host
        }
    }

    /// Where `pkg`'s archive is (or goes): `<base cache>/<its triple>/`.
    pub fn archive_path(&self, pkg: &PlannedPackage) -> PathBuf {
        self.base_cache
            .join(self.triple_of(pkg))
            .join(pkg.archive_name())
    }

    fn toolchains_dir(&self) -> PathBuf {
        self.root.join("toolchains")
    }
}

/// What a run did, package by package.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Nothing to do: the prefix already matched the plan.
    pub up_to_date: bool,
    pub built: Vec<String>,
    pub reused: Vec<String>,
    /// Got from the remote cache instead of being built.
    pub downloaded: Vec<String>,
}

/// The recipes, host and compilers of a run, loaded once.
pub struct Depends {
    pub config: Config,
    pub book: RecipeBook,
    pub host: Host,
    /// The build machine's host file: native packages are built for it.
    pub build_machine: Host,
    pub progress: Progress,
    /// The remote store, opened on first use (None: none configured, or
    /// it could not be set up, which was reported).
    pub(crate) remote: OnceLock<Option<RemoteStore>>,
}

impl Depends {
    pub fn load(config: Config, progress: Progress) -> Result<Depends> {
        let book = RecipeBook::load(&config.depends_dir().join("packages"))?;
        let host = Host::load(&config.toolchains_dir(), &config.host)?;
        let build_machine = Host::load(&config.toolchains_dir(), &config.build_triple)?;
        Ok(Depends {
            config,
            book,
            host,
            build_machine,
            progress,
            remote: OnceLock::new(),
        })
    }

    /// The recipes of the package set, dependencies first.
    pub fn packages(&self) -> Result<Vec<&Recipe>> {
        let roots = plan::select(&self.book, self.config.multiprocess, self.config.cxx_ipc);
        Ok(plan::order(&self.book, &roots)?)
    }

    /// The package set with build ids (runs the compilers for their
    /// identity; host compilers only if a package needs them).
    pub fn plan(&self) -> Result<Vec<PlannedPackage>> {
        let packages = self.packages()?;
        let native_identity = self.native_compilers()?.identity;
        let host_identity = if packages.iter().any(|r| !r.spec.native) {
            self.identified(&self.config.host, Output::Libraries)?
                .identity
        } else {
            String::new()
        };
        let template_path = self
            .config
            .toolchains_dir()
            .join(toolchain_files::CMAKE_TEMPLATE);
        let cmake_toolchain_template = std::fs::read_to_string(&template_path)
            .with_context(|| format!("reading {}", template_path.display()))?;
        let identity = HostIdentity {
            host_triple: &self.config.host,
            toolchain_file: &self.host.text,
            build_triple: &self.config.build_triple,
            build_toolchain_file: &self.build_machine.text,
            native_compilers: &native_identity,
            host_compilers: &host_identity,
            cmake_toolchain_template: &cmake_toolchain_template,
        };
        Ok(plan::with_ids(&packages, &identity))
    }

    fn identified(&self, triple: &str, output: Output) -> Result<IdentifiedCompilers> {
        let cache_dir = self.config.depends_dir().join("work");
        Ok(IdentifiedCompilers::detect(
            triple,
            &self.config.build_triple,
            output,
            &cache_dir,
        )?)
    }

    fn host_compilers(&self) -> Result<Compilers> {
        if self.config.host == self.config.build_triple {
            return Ok(self
                .identified(&self.config.host, Output::Libraries)?
                .compilers);
        }
        // Cross compilers are named, not run: they need not be installed.
        Ok(Compilers::detect(
            &self.config.host,
            &self.config.build_triple,
            Output::Libraries,
        )?)
    }

    /// The build machine's compilers for its own tools (`native_*`).
    fn native_compilers(&self) -> Result<IdentifiedCompilers> {
        self.identified(&self.config.build_triple, Output::Tools)
    }

    /// `cargo xtask depends`: bring `depends/<host>/` up to date.
    pub fn run(&self) -> Result<RunReport> {
        let _lock = self.lock()?;
        let planned = self.plan()?;
        let prefix = self.config.prefix();
        let toolchain_files = self.toolchain_files()?;
        if let Some(manifest) = Manifest::read(&prefix) {
            if manifest.multiprocess == self.config.multiprocess
                && manifest.packages == installed_packages(&planned)
                && manifest.files_present(&prefix)
                && toolchain_files.iter().all(|(name, contents)| {
                    std::fs::read(prefix.join(name))
                        .is_ok_and(|on_disk| on_disk == contents.as_bytes())
                })
            {
                return Ok(RunReport {
                    up_to_date: true,
                    ..RunReport::default()
                });
            }
        }
        let archives: Vec<PathBuf> = planned
            .iter()
            .map(|p| self.config.archive_path(p))
            .collect();
        if archives.iter().any(|archive| !archive.exists()) {
            self.require_client()?;
        }
        let mut report = RunReport::default();
        let mut to_build = Vec::new();
        for (index, (pkg, archive)) in planned.iter().zip(&archives).enumerate() {
            let name = pkg.name().to_string();
            if archive.exists() {
                match crate::archive::verify(archive) {
                    Ok(()) => {
                        report.reused.push(name);
                        continue;
                    }
                    Err(e) => {
                        self.progress
                            .warn(&format!("{e}; deleting it and building {name} again"));
                        std::fs::remove_file(archive)
                            .with_context(|| format!("deleting {}", archive.display()))?;
                    }
                }
            }
            if self.download_build(pkg, archive) {
                report.downloaded.push(name);
                continue;
            }
            to_build.push(index);
        }
        let needs = build_order::needs(&planned);
        let waits_for = build_order::waits_for(&to_build, &needs);
        let budget = JobBudget::new(self.config.jobs).context("creating the make jobserver")?;
        self.progress.println(&build_order::plan_text(
            &self.config.host,
            &planned,
            &to_build,
            &waits_for,
            &report,
            budget.jobs(),
        ));
        // One download at a time: packages may share a source file.
        let fetching = Mutex::new(());
        schedule::run_when_ready(&waits_for, |k| -> Result<()> {
            let index = to_build[k];
            let pkg = &planned[index];
            let name = pkg.name().to_string();
            let source = {
                let _one = fetching.lock().unwrap_or_else(|e| e.into_inner());
                self.fetch(&pkg.recipe)?
            };
            self.progress.step(&name, "waiting for a job slot");
            let _token = budget.acquire().context("taking a jobserver token")?;
            let deps: Vec<PathBuf> = needs[index].iter().map(|&j| archives[j].clone()).collect();
            self.build(pkg, &source, &deps, &archives[index], &budget)?;
            self.progress.done(
                &name,
                &format!("built {name} -> {}", archives[index].display()),
            );
            self.publish_build(pkg, &archives[index])
        })
        .map_err(|failures| {
            let mut messages: Vec<String> = failures
                .into_iter()
                .map(|(_, e)| format!("{e:#}"))
                .collect();
            if messages.len() == 1 {
                anyhow::anyhow!(messages.remove(0))
            } else {
                anyhow::anyhow!(
                    "{} packages failed:\n  {}",
                    messages.len(),
                    messages.join("\n  ")
                )
            }
        })?;
        report.built = to_build
            .iter()
            .map(|&i| planned[i].name().to_string())
            .collect();
        self.record_remote_stats();
        self.progress.step(&self.config.host, "install");
        install::install(
            &prefix,
            &archives,
            &toolchain_files,
            &self.config.host,
            self.config.multiprocess,
            installed_packages(&planned),
        )?;
        self.progress.finish();
        Ok(report)
    }

    /// `cargo xtask depends download`: fetch every source of the set.
    pub fn download(&self) -> Result<Vec<PathBuf>> {
        let _lock = self.lock()?;
        let packages = self.packages()?;
        if packages.iter().any(|recipe| {
            !self
                .config
                .sources_dir
                .join(&recipe.spec.source.file_name)
                .is_file()
        }) {
            self.require_client()?;
        }
        packages
            .into_iter()
            .map(|recipe| self.fetch(recipe))
            .collect()
    }

    /// Removes what runs for this host built; keeps the source cache unless
    /// `sources` (cached downloads are verified, and slow to get again).
    pub fn clean(&self, sources: bool) -> Result<Vec<PathBuf>> {
        let _lock = self.lock()?;
        let depends = self.config.depends_dir();
        let mut targets = vec![
            self.config.prefix(),
            self.config.base_cache.join(&self.config.host),
            depends.join("work/build").join(&self.config.host),
            depends.join("work/logs").join(&self.config.host),
        ];
        if sources {
            targets.push(self.config.sources_dir.clone());
        }
        let mut removed = Vec::new();
        for dir in targets {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
                removed.push(dir);
            }
        }
        Ok(removed)
    }

    /// `print <package|host> <var>`, like depends' `make print-<var>`.
    pub fn print(&self, subject: &str, var: &str) -> Result<String> {
        if subject == "host" {
            return self.print_host(var);
        }
        let recipe = self.book.get(subject)?;
        let spec = &recipe.spec;
        Ok(match var {
            "name" => spec.name.to_string(),
            "version" => spec.version.clone(),
            "native" => spec.native.to_string(),
            "multiprocess" => spec.multiprocess.to_string(),
            "file_name" => spec.source.file_name.clone(),
            "sha256" => spec.source.sha256.as_str().to_owned(),
            "urls" => spec.source.urls.join("\n"),
            "dependencies" => join(recipe.dependencies().iter()),
            "recipe" => recipe.path.display().to_string(),
            "build_id" | "archive" => {
                let planned = self.plan()?;
                let pkg = planned
                    .iter()
                    .find(|p| p.name() == recipe.name())
                    .with_context(|| {
                        format!(
                            "{subject} is not in the package set for {} (multiprocess: {})",
                            self.config.host, self.config.multiprocess
                        )
                    })?;
                if var == "build_id" {
                    pkg.build_id.clone()
                } else {
                    self.config.archive_path(pkg).display().to_string()
                }
            }
            _ => bail!(
                "unknown package variable {var:?}; known: name version native multiprocess \
                 file_name sha256 urls dependencies recipe build_id archive"
            ),
        })
    }

    fn print_host(&self, var: &str) -> Result<String> {
        let spec = &self.host.spec;
        Ok(match var {
            "triple" => spec.triple.clone(),
            "gnu_triple" => spec.gnu_triple.clone(),
            "build_triple" => self.config.build_triple.clone(),
            "prefix" => self.config.prefix().display().to_string(),
            "multiprocess" => self.config.multiprocess.to_string(),
            "packages" => join(self.packages()?.iter().map(|r| r.name())),
            "cc" => self.host_compilers()?.cc.path.display().to_string(),
            "cxx" => self.host_compilers()?.cxx.path.display().to_string(),
            "sources_dir" => self.config.sources_dir.display().to_string(),
            _ => bail!(
                "unknown host variable {var:?}; known: triple gnu_triple build_triple prefix \
                 multiprocess packages cc cxx sources_dir"
            ),
        })
    }

    pub(crate) fn lock(&self) -> Result<TreeLock> {
        let dir = self.config.depends_dir();
        TreeLock::acquire(&dir, |path| {
            self.progress.println(&format!(
                "waiting for another depends run to finish (lock {})",
                path.display()
            ))
        })
        .with_context(|| format!("locking {}", dir.display()))
    }

    fn fetch(&self, recipe: &Recipe) -> Result<PathBuf> {
        let name = recipe.name().to_string();
        let source = &recipe.spec.source;
        let cfg = FetchConfig {
            sources_dir: self.config.sources_dir.clone(),
            fallback_url: self.config.fallback_url.clone(),
            mirrors: self.config.mirrors.clone(),
            offline: self.config.offline,
        };
        let spec = SourceSpec {
            file_name: &source.file_name,
            sha256: source.sha256.as_str(),
            urls: &source.urls,
        };
        let progress = &self.progress;
        let store = self.remote();
        let path = fetch::fetch_with_store(&spec, &cfg, store, &mut |event| match event {
            FetchEvent::Trying { url } => progress.step(&name, &format!("fetch {url}")),
            FetchEvent::Progress { url, bytes, total } => progress.bytes(&name, url, bytes, total),
            FetchEvent::Rejected { url, reason } => {
                progress.warn(&format!("{name}: {url}: {reason}"))
            }
            FetchEvent::CorruptCacheRemoved {
                path,
                expected,
                actual,
            } => progress.warn(&format!(
                "{name}: cached {} had sha256 {actual}, expected {expected}; deleted it",
                path.display()
            )),
            FetchEvent::Stored { path } => {
                progress.println(&format!("{name}: fetched and verified {}", path.display()))
            }
            FetchEvent::Cached { .. } => {}
        })?;
        if let Some(store) = store.filter(|s| s.mode() == Mode::ReadWrite) {
            if let Err(miss) = store.publish_blob(source.sha256.as_str(), &path) {
                self.progress.warn(&format!(
                    "{name}: source not published to {}: {miss}",
                    store.url()
                ));
            }
        }
        Ok(path)
    }

    fn build(
        &self,
        pkg: &PlannedPackage,
        source: &Path,
        deps: &[PathBuf],
        archive: &Path,
        budget: &JobBudget,
    ) -> Result<()> {
        let native = self.native_compilers()?.compilers;
        let host = self.host_compilers()?;
        let cmake_toolchain = |native_package: bool, deps_prefix: &Path| {
            self.cmake_toolchain(native_package, deps_prefix)
                .map_err(|e| format!("{e:#}"))
        };
        let env = BuildEnv {
            work_dir: &self.config.depends_dir().join("work"),
            host_triple: &self.config.host,
            host_gnu_triple: &self.host.spec.gnu_triple,
            build_triple: &self.config.build_triple,
            native: &native,
            host: &host,
            jobs: budget,
            cmake_toolchain: &cmake_toolchain,
            cmake_driver: &self.config.cmake_driver,
        };
        builder::build(pkg, source, deps, &env, archive, &self.progress)?;
        Ok(())
    }

    /// The `toolchain.cmake` a cmake package is configured with: the host's
    /// (the build machine's for a native package), looking for libraries in
    /// `deps_prefix`, where the package's dependencies are unpacked.
    fn cmake_toolchain(&self, native_package: bool, deps_prefix: &Path) -> Result<String> {
        let (host, compilers) = if native_package {
            (
                self.build_machine.spec.clone(),
                self.native_compilers()?.compilers,
            )
        } else {
            (self.host.spec.clone(), self.host_compilers()?)
        };
        let files = toolchain_files::render(
            &self.config.toolchains_dir(),
            &ToolchainInputs {
                host: &host,
                build_triple: &self.config.build_triple,
                compilers: &compilers,
                prefix: &absolute(deps_prefix)?,
                multiprocess: self.config.multiprocess,
                cmake: true,
                remap: &[],
            },
        )?;
        Ok(files
            .into_iter()
            .find(|(name, _)| *name == toolchain_files::CMAKE_FILE)
            .map(|(_, text)| text)
            .expect("render writes toolchain.cmake"))
    }

    /// `toolchain.cmake` and `cargo-config.toml` for this host, as `run`
    /// installs them (name, contents); renders only, builds nothing.
    pub fn toolchain_files(&self) -> Result<Vec<(&'static str, String)>> {
        let compilers = self.host_compilers()?;
        let prefix = absolute(&self.config.prefix())?;
        let root = absolute(&self.config.root)?;
        let mut remap = vec![(root, ".")];
        if let Some(cargo_home) = cargo_home() {
            remap.push((cargo_home, "/cargo"));
        }
        Ok(toolchain_files::render(
            &self.config.toolchains_dir(),
            &ToolchainInputs {
                host: &self.host.spec,
                build_triple: &self.config.build_triple,
                compilers: &compilers,
                prefix: &prefix,
                multiprocess: self.config.multiprocess,
                cmake: self
                    .packages()?
                    .iter()
                    .any(|r| r.name().as_str() == CMAKE_PACKAGE),
                remap: &remap,
            },
        )?)
    }
}

fn installed_packages(planned: &[PlannedPackage]) -> Vec<InstalledPackage> {
    planned
        .iter()
        .map(|p| InstalledPackage {
            name: p.name().to_string(),
            version: p.recipe.spec.version.clone(),
            build_id: p.build_id.clone(),
        })
        .collect()
}

pub(crate) fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}
