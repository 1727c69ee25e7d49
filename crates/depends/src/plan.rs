//! The package set for one host, in dependency order, each package with its
//! build id.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::recipe::{BuildStyle, PackageName, PatchFile, Recipe, RecipeBook};

/// Bumped when the builder changes how it turns a recipe into files, so
/// every archive made by an older builder is rebuilt.
pub const BUILDER_VERSION: u32 = 2;

/// One package to have built for a host.
#[derive(Debug, Clone)]
pub struct PlannedPackage {
    pub recipe: Recipe,
    /// Hex SHA-256 over everything that decides the package's bytes.
    pub build_id: String,
    /// Those inputs themselves, as hashed (a remote cache manifest names
    /// them, so a miss can be explained by comparing two manifests).
    pub inputs: serde_json::Value,
}

impl PlannedPackage {
    pub fn name(&self) -> &PackageName {
        self.recipe.name()
    }

    /// `<name>-<version>-<first 12 of id>.tar.gz`.
    pub fn archive_name(&self) -> String {
        format!(
            "{}-{}-{}.tar.gz",
            self.recipe.name(),
            self.recipe.spec.version,
            &self.build_id[..12]
        )
    }
}

/// What a host contributes to every build id on it. Native packages take
/// the build machine's part only: their archives are the same whatever the
/// host, so a cross build reuses those of the build machine's own run.
#[derive(Debug, Clone, Serialize)]
pub struct HostIdentity<'a> {
    pub host_triple: &'a str,
    pub toolchain_file: &'a str,
    /// The build machine's triple and host file (for native packages).
    pub build_triple: &'a str,
    pub build_toolchain_file: &'a str,
    /// Identity of the compilers the package is built with (the build
    /// machine's for `native` packages, the host's otherwise).
    pub native_compilers: &'a str,
    pub host_compilers: &'a str,
    /// `toolchains/toolchain.cmake.in`, which cmake packages are configured
    /// with.
    pub cmake_toolchain_template: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("dependency cycle through package {0}: break it in the recipes")]
    Cycle(String),
}

/// Which recipes of the book belong to the set: the base packages, plus the
/// IPC ones when `multiprocess`, plus the C++ IPC ones when `cxx_ipc` (and
/// [`order`] adds everything they depend on).
pub fn select(book: &RecipeBook, multiprocess: bool, cxx_ipc: bool) -> Vec<PackageName> {
    book.recipes
        .values()
        .filter(|r| multiprocess || !r.spec.multiprocess)
        .filter(|r| cxx_ipc || !r.spec.cxx_ipc)
        .map(|r| r.name().clone())
        .collect()
}

/// Orders `roots` and their dependencies so every package follows its
/// dependencies.
pub fn order<'a>(
    book: &'a RecipeBook,
    roots: &[PackageName],
) -> Result<Vec<&'a Recipe>, PlanError> {
    let mut order: Vec<PackageName> = Vec::new();
    let mut visiting: Vec<PackageName> = Vec::new();
    for root in roots {
        visit(book, root, &mut visiting, &mut order)?;
    }
    Ok(order.iter().map(|name| &book.recipes[name]).collect())
}

/// Gives each package of an [`order`]ed set its build id.
pub fn with_ids(ordered: &[&Recipe], host: &HostIdentity) -> Vec<PlannedPackage> {
    let mut ids: BTreeMap<&PackageName, String> = BTreeMap::new();
    let mut planned = Vec::with_capacity(ordered.len());
    for recipe in ordered {
        let dependencies = recipe.dependencies();
        let deps: BTreeMap<&str, &str> = dependencies
            .iter()
            .map(|d| (d.as_str(), ids[d].as_str()))
            .collect();
        let (build_id, inputs) = build_id(recipe, &deps, host);
        ids.insert(recipe.name(), build_id.clone());
        planned.push(PlannedPackage {
            recipe: (*recipe).clone(),
            build_id,
            inputs,
        });
    }
    planned
}

fn visit(
    book: &RecipeBook,
    name: &PackageName,
    visiting: &mut Vec<PackageName>,
    order: &mut Vec<PackageName>,
) -> Result<(), PlanError> {
    if order.contains(name) {
        return Ok(());
    }
    if visiting.contains(name) {
        return Err(PlanError::Cycle(name.to_string()));
    }
    visiting.push(name.clone());
    for dep in &book.recipes[name].dependencies() {
        visit(book, dep, visiting, order)?;
    }
    visiting.pop();
    order.push(name.clone());
    Ok(())
}

/// The build id and the inputs it hashes.
fn build_id(
    recipe: &Recipe,
    deps: &BTreeMap<&str, &str>,
    host: &HostIdentity,
) -> (String, serde_json::Value) {
    #[derive(Serialize)]
    struct IdInput<'a> {
        builder_version: u32,
        recipe: &'a str,
        dependencies: &'a BTreeMap<&'a str, &'a str>,
        host_triple: &'a str,
        toolchain_file: &'a str,
        compilers: &'a str,
        // Absent when empty, so adding these inputs changed no existing id.
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        patches: &'a [PatchFile],
        #[serde(skip_serializing_if = "Option::is_none")]
        cmake_toolchain_template: Option<&'a str>,
    }
    let (triple, toolchain_file, compilers) = if recipe.spec.native {
        (
            host.build_triple,
            host.build_toolchain_file,
            host.native_compilers,
        )
    } else {
        (host.host_triple, host.toolchain_file, host.host_compilers)
    };
    let input = IdInput {
        builder_version: BUILDER_VERSION,
        recipe: &recipe.text,
        dependencies: deps,
        host_triple: triple,
        toolchain_file,
        compilers,
        patches: &recipe.patches,
        cmake_toolchain_template: (recipe.spec.build.style == BuildStyle::Cmake)
            .then_some(host.cmake_toolchain_template),
    };
    let bytes = serde_json::to_vec(&input).expect("plain data serializes");
    let value = serde_json::to_value(&input).expect("plain data serializes");
    (hex::encode(Sha256::digest(bytes)), value)
}
