//! Package recipes: one declarative TOML file per package in
//! `depends/packages/<name>.toml`, like Bitcoin Core's `packages/*.mk`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// A parsed, validated recipe together with the bytes it came from (the
/// bytes are what the build id hashes, so any edit rebuilds the package).
#[derive(Debug, Clone)]
pub struct Recipe {
    pub spec: RecipeSpec,
    pub path: PathBuf,
    pub text: String,
    /// `depends/patches/<name>/*.patch` in the order they apply (file
    /// name order); their bytes are part of the build id too.
    pub patches: Vec<PatchFile>,
}

/// One patch of a package: its file name and contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchFile {
    pub name: String,
    pub text: String,
}

/// The package every `style = "cmake"` package depends on implicitly: the
/// cmake that configures and builds it is never the system's.
pub const CMAKE_PACKAGE: &str = "native_cmake";

/// The recipe file's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeSpec {
    pub name: PackageName,
    pub version: String,
    /// Runs on the build machine (installed under `<prefix>/native`), like
    /// depends' `native_` packages.
    #[serde(default)]
    pub native: bool,
    /// Part of the IPC package set (`MULTIPROCESS`).
    #[serde(default)]
    pub multiprocess: bool,
    /// Part of the opt-in C++ IPC package set (`CXX_IPC`): Cap'n Proto's
    /// C++ libraries for the host, and the cmake they are built with.
    #[serde(default)]
    pub cxx_ipc: bool,
    #[serde(default)]
    pub dependencies: Vec<PackageName>,
    pub source: SourceSpec,
    pub build: BuildSpec,
    #[serde(default)]
    pub install: Vec<InstallRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The archive's file name in the source cache and on fallback mirrors.
    pub file_name: String,
    pub sha256: Sha256Hex,
    /// Candidates in order: plain URLs first, `mirror://<scheme>/<path>`
    /// entries are tried after the fallback mirror.
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    pub style: BuildStyle,
    /// The command that configures the tree before `make` (make style),
    /// for packages whose configure step is not autotools' `./configure`,
    /// such as CMake's `./bootstrap`. `{prefix}` and `{jobs}` in an
    /// argument are replaced by the fixed install prefix and `-j N`'s N.
    #[serde(default)]
    pub configure_command: Vec<String>,
    /// Extra arguments to `./configure` (autotools style).
    #[serde(default)]
    pub configure_options: Vec<String>,
    /// `-D` cache entries for cmake (cmake style).
    #[serde(default)]
    pub defines: BTreeMap<String, String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub cxxflags: Vec<String>,
    /// Targets to build (`make` targets, or the cmake build's); empty means
    /// the default target.
    #[serde(default)]
    pub make_targets: Vec<String>,
    /// Install with the package's own install (`make install`, or cmake's
    /// install target) into a `DESTDIR` staging tree, for libraries whose
    /// install is more than a few files; `lib/pkgconfig/*.pc` are rewritten
    /// to find the prefix they are in.
    #[serde(default)]
    pub staged_install: bool,
    /// Options added for one host, keyed by its OS (`linux`) or its whole
    /// triple, like depends' `$(package)_config_opts_linux`. OS entries
    /// apply first, then the triple's.
    #[serde(default)]
    pub host: BTreeMap<HostKey, BuildOptions>,
}

/// The options of a `[build.host.*]` table (the same as `[build]`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildOptions {
    /// Extra arguments to `./configure` (autotools style).
    #[serde(default)]
    pub configure_options: Vec<String>,
    /// `-D` cache entries for cmake (cmake style).
    #[serde(default)]
    pub defines: BTreeMap<String, String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub cxxflags: Vec<String>,
}

impl BuildOptions {
    fn extend(&mut self, more: &BuildOptions) {
        self.configure_options
            .extend(more.configure_options.iter().cloned());
        self.defines
            .extend(more.defines.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.cflags.extend(more.cflags.iter().cloned());
        self.cxxflags.extend(more.cxxflags.iter().cloned());
    }
}

impl BuildSpec {
    fn common_options(&self) -> BuildOptions {
        BuildOptions {
            configure_options: self.configure_options.clone(),
            defines: self.defines.clone(),
            cflags: self.cflags.clone(),
            cxxflags: self.cxxflags.clone(),
        }
    }

    /// The options for `triple`: the common ones, then its OS's, then its
    /// own (a later define of the same name wins).
    pub fn options_for(&self, triple: &str) -> BuildOptions {
        let mut options = self.common_options();
        if let Some(os) = host_os(triple) {
            if let Some(more) = self.host.get(&HostKey(os.to_owned())) {
                options.extend(more);
            }
        }
        if let Some(more) = self.host.get(&HostKey(triple.to_owned())) {
            options.extend(more);
        }
        options
    }
}

/// Operating systems a `[build.host.<os>]` table may name.
pub const HOST_OSES: &[&str] = &["linux", "darwin", "freebsd", "windows", "android"];

/// The OS part of a target triple (`x86_64-unknown-linux-gnu` -> `linux`).
pub fn host_os(triple: &str) -> Option<&'static str> {
    triple
        .split('-')
        .find_map(|part| HOST_OSES.iter().find(|os| **os == part).copied())
}

/// A `[build.host.*]` key: an OS of [`HOST_OSES`] or a target triple.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostKey(String);

impl<'de> Deserialize<'de> for HostKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if HOST_OSES.contains(&s.as_str()) || s.split('-').count() >= 3 {
            Ok(HostKey(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "unknown host {s:?} in [build.host]: use an OS ({}) or a target triple",
                HOST_OSES.join(", ")
            )))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStyle {
    /// `./configure` then `make`.
    Autotools,
    /// `make` only, after the recipe's `configure_command` if it has one.
    Make,
    /// Configured, built and installed through the `cmake` crate, with the
    /// depends cmake ([`CMAKE_PACKAGE`]).
    Cmake,
}

/// Files copied from the build tree into the staging prefix. A rule, not
/// `make install`, because the packages here need a few executables and data
/// files, not the whole library install (which would double the build time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRule {
    /// Paths relative to the unpacked source tree (for cmake packages: to
    /// its build tree); a directory is copied whole.
    pub files: Vec<RelativePath>,
    /// Directory relative to the package's prefix.
    pub to: RelativePath,
    /// Strip symbols (executables), which also drops debug paths.
    #[serde(default)]
    pub strip: bool,
}

/// A package name: lowercase ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PackageName(String);

impl PackageName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PackageName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let valid = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(PackageName(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid package name {s:?}: use lowercase letters, digits, '_' and '-'"
            )))
        }
    }
}

/// A path that stays inside the tree it is relative to: not absolute, no
/// `..`, not empty (so an install rule cannot read or write outside the
/// build and staging trees).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelativePath(String);

impl RelativePath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelativePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use std::path::Component;
        let s = String::deserialize(d)?;
        let inside = !s.is_empty()
            && Path::new(&s)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if inside {
            Ok(RelativePath(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "install path {s:?} leaves its tree: use a relative path without `..`"
            )))
        }
    }
}

/// A SHA-256 digest as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Sha256Hex(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid sha256 {s:?}: expected 64 lowercase hex digits"
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The message of `toml` names the line and column.
    #[error("malformed recipe {path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "recipe {path} declares name {name:?} but its file name says {stem:?}: rename one to match"
    )]
    NameMismatch {
        path: PathBuf,
        name: String,
        stem: String,
    },
    #[error("package {package} depends on {missing}, which has no recipe in {dir}")]
    UnknownDependency {
        package: String,
        missing: String,
        dir: PathBuf,
    },
    #[error(
        "native package {package} depends on {dependency}, which is built for the host: \
         native packages run on the build machine and may depend on native packages only"
    )]
    NativeNeedsHost { package: String, dependency: String },
    #[error("no recipe for package {name:?} in {dir}")]
    UnknownPackage { name: String, dir: PathBuf },
    /// A field that the recipe's build style does not use.
    #[error("recipe {path}, line {line}: `{field}` {reason}")]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        reason: String,
    },
}

impl Recipe {
    pub fn parse(path: &Path, text: String) -> Result<Recipe, RecipeError> {
        let spec: RecipeSpec = toml::from_str(&text).map_err(|e| RecipeError::Malformed {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if spec.name.as_str() != stem {
            return Err(RecipeError::NameMismatch {
                path: path.to_owned(),
                name: spec.name.0,
                stem,
            });
        }
        check_style_fields(path, &text, &spec.build)?;
        Ok(Recipe {
            spec,
            path: path.to_owned(),
            text,
            patches: Vec::new(),
        })
    }

    pub fn name(&self) -> &PackageName {
        &self.spec.name
    }

    /// The recipe's dependencies plus the implicit ones: [`CMAKE_PACKAGE`]
    /// for cmake-style packages.
    pub fn dependencies(&self) -> Vec<PackageName> {
        let mut deps = self.spec.dependencies.clone();
        let cmake = PackageName(CMAKE_PACKAGE.to_owned());
        if self.spec.build.style == BuildStyle::Cmake && !deps.contains(&cmake) {
            deps.push(cmake);
        }
        deps
    }
}

/// Fields that only one style reads are errors in the others: a recipe
/// that sets a field nothing reads was written for another style.
fn check_style_fields(path: &Path, text: &str, build: &BuildSpec) -> Result<(), RecipeError> {
    let common = build.common_options();
    let all_options = std::iter::once(&common).chain(build.host.values());
    let mut used: Vec<(&str, BuildStyle)> = Vec::new();
    if !build.configure_command.is_empty() {
        used.push(("configure_command", BuildStyle::Make));
    }
    for options in all_options {
        if !options.configure_options.is_empty() {
            used.push(("configure_options", BuildStyle::Autotools));
        }
        if !options.defines.is_empty() {
            used.push(("defines", BuildStyle::Cmake));
        }
    }
    match used.into_iter().find(|(_, style)| *style != build.style) {
        Some((field, style)) => Err(RecipeError::Field {
            path: path.to_owned(),
            line: line_of(text, field),
            field: field.to_owned(),
            reason: format!(
                "is read only by style = {:?}, and this recipe's style is {:?}: remove it or change the style",
                style_name(style),
                style_name(build.style)
            ),
        }),
        None => Ok(()),
    }
}

fn style_name(style: BuildStyle) -> &'static str {
    match style {
        BuildStyle::Autotools => "autotools",
        BuildStyle::Make => "make",
        BuildStyle::Cmake => "cmake",
    }
}

/// The 1-based line where `key` is first set (or a table of that name
/// opens); 1 if it cannot be found.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
                || l.contains(&format!(".{key}"))
        })
        .map_or(1, |i| i + 1)
}

/// Reads `patches_dir/*.patch`, sorted by file name.
fn load_patches(patches_dir: &Path) -> Result<Vec<PatchFile>, RecipeError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| RecipeError::Read { path, source }
    };
    if !patches_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(patches_dir)
        .map_err(read_err(patches_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
            let name = path
                .file_name()
                .expect("listed file")
                .to_string_lossy()
                .into_owned();
            Ok(PatchFile { name, text })
        })
        .collect()
}

/// `depends/patches` beside `depends/packages`.
pub fn patches_dir(packages_dir: &Path) -> PathBuf {
    packages_dir.with_file_name("patches")
}

/// Every recipe in a packages directory, keyed by name.
#[derive(Debug, Clone)]
pub struct RecipeBook {
    pub dir: PathBuf,
    pub recipes: BTreeMap<PackageName, Recipe>,
}

impl RecipeBook {
    /// Reads `dir/*.toml`; any malformed file is an error (a typo must not
    /// silently drop a package from the build).
    pub fn load(dir: &Path) -> Result<RecipeBook, RecipeError> {
        let read_err = |source| RecipeError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut recipes = BTreeMap::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Read {
                path: path.clone(),
                source,
            })?;
            let mut recipe = Recipe::parse(&path, text)?;
            recipe.patches = load_patches(&patches_dir(dir).join(recipe.name().as_str()))?;
            recipes.insert(recipe.name().clone(), recipe);
        }
        let book = RecipeBook {
            dir: dir.to_owned(),
            recipes,
        };
        for recipe in book.recipes.values() {
            for dep in &recipe.dependencies() {
                let Some(dependency) = book.recipes.get(dep) else {
                    return Err(RecipeError::UnknownDependency {
                        package: recipe.name().to_string(),
                        missing: dep.to_string(),
                        dir: dir.to_owned(),
                    });
                };
                // A native package's archive is shared by every host (its
                // build id has no host part), so nothing host-built may
                // go into it.
                if recipe.spec.native && !dependency.spec.native {
                    return Err(RecipeError::NativeNeedsHost {
                        package: recipe.name().to_string(),
                        dependency: dep.to_string(),
                    });
                }
            }
        }
        Ok(book)
    }

    pub fn get(&self, name: &str) -> Result<&Recipe, RecipeError> {
        self.recipes
            .values()
            .find(|r| r.name().as_str() == name)
            .ok_or_else(|| RecipeError::UnknownPackage {
                name: name.to_owned(),
                dir: self.dir.clone(),
            })
    }
}

#[cfg(test)]
mod tests;
