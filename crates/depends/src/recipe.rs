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
}

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
    /// Extra arguments to `./configure` (autotools style).
    #[serde(default)]
    pub configure_options: Vec<String>,
    /// `make` targets; empty means the default target.
    #[serde(default)]
    pub make_targets: Vec<String>,
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub cxxflags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStyle {
    /// `./configure` then `make`.
    Autotools,
    /// `make` only.
    Make,
}

/// Files copied from the build tree into the staging prefix. A rule, not
/// `make install`, because the packages here need a few executables and data
/// files, not the whole library install (which would double the build time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRule {
    /// Paths relative to the unpacked source tree.
    pub files: Vec<String>,
    /// Directory relative to the package's prefix.
    pub to: String,
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
    #[error("no recipe for package {name:?} in {dir}")]
    UnknownPackage { name: String, dir: PathBuf },
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
        Ok(Recipe {
            spec,
            path: path.to_owned(),
            text,
        })
    }

    pub fn name(&self) -> &PackageName {
        &self.spec.name
    }
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
            let recipe = Recipe::parse(&path, text)?;
            recipes.insert(recipe.name().clone(), recipe);
        }
        let book = RecipeBook {
            dir: dir.to_owned(),
            recipes,
        };
        for recipe in book.recipes.values() {
            for dep in &recipe.spec.dependencies {
                if !book.recipes.contains_key(dep) {
                    return Err(RecipeError::UnknownDependency {
                        package: recipe.name().to_string(),
                        missing: dep.to_string(),
                        dir: dir.to_owned(),
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
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "native_demo"
version = "1.0"
native = true

[source]
file_name = "demo-1.0.tar.gz"
sha256 = "07167580e563f5e821e3b2af1c238c16ec7181612650c5901330fa9a0da50939"
urls = ["http://127.0.0.1:1/demo-1.0.tar.gz"]

[build]
style = "autotools"
make_targets = ["demo"]

[[install]]
files = ["demo"]
to = "bin"
strip = true
"#;

    fn parse(text: &str) -> Result<Recipe, RecipeError> {
        Recipe::parse(Path::new("packages/native_demo.toml"), text.to_owned())
    }

    #[test]
    fn parses_a_recipe() {
        let r = parse(GOOD).unwrap();
        assert_eq!(r.name().as_str(), "native_demo");
        assert!(r.spec.native);
        assert_eq!(r.spec.build.style, BuildStyle::Autotools);
        assert_eq!(r.spec.install[0].to, "bin");
    }

    #[test]
    fn malformed_sha256_names_file_and_line() {
        let bad = GOOD.replace("07167580e5", "XYZ");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("packages/native_demo.toml"), "{err}");
        assert!(err.contains("line 8"), "{err}");
        assert!(err.contains("64 lowercase hex"), "{err}");
    }

    #[test]
    fn unknown_field_names_line() {
        let bad = GOOD.replace("native = true", "native = true\nnatvie = false");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("natvie"), "{err}");
    }

    #[test]
    fn file_name_must_match_package_name() {
        let err = Recipe::parse(Path::new("packages/other.toml"), GOOD.to_owned())
            .unwrap_err()
            .to_string();
        assert!(err.contains("rename"), "{err}");
    }
}
