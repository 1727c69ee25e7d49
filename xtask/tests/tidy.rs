//! Tidy: the workspace's boundaries and house rules, checked over `cargo
//! metadata` and a walk of the sources (in the style of rust-analyzer's
//! tidy test). It runs with the workspace's tests, so `cargo xtask test`
//! fails when a rule is broken. Every message names the crate or file and
//! the rule.
//!
//! The rules: only `kestrel-ipc` uses Cap'n Proto; the model crates
//! (`kestrel-chain`, `kestrel-wallet`, `kestrel-interfaces`) depend on no
//! node, RPC or IPC crate; `kestrel-cli` depends on no chain, wallet or
//! node crate; every `.rs` file opens with a `//!` line saying what it is;
//! no non-test file is longer than [`MAX_LINES`] unless [`LONG_FILES`] says
//! why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, MetadataCommand};

/// Longest a non-test source file may be without an entry in
/// [`LONG_FILES`].
const MAX_LINES: usize = 600;

/// Files allowed past [`MAX_LINES`], each with its reason (workspace-relative
/// paths). An entry for a file that is missing or short enough fails too,
/// so the list only holds what is true.
const LONG_FILES: &[(&str, &str)] = &[(
    "crates/ipc/benches/ipc.rs",
    "one benchmark binary: every row's set-up (raw socketpair, bare capnp-rpc, kestrel-ipc, \
     in-process) and the child roles it re-executes itself as, side by side so the baselines \
     are measured the same way",
)];

/// The Cap'n Proto crates: the wire format is `kestrel-ipc`'s business.
const CAPNP_CRATES: &[&str] = &["capnp", "capnp-rpc", "capnpc", "capnp-futures"];
const CAPNP_OWNER: &str = "kestrel-ipc";

/// Crates that may not depend on certain others, directly or through
/// another workspace crate, and why.
const LAYERS: &[Layer] = &[
    Layer {
        crates: &["kestrel-chain", "kestrel-wallet", "kestrel-interfaces"],
        must_not_reach: &["kestrel-node", "kestrel-rpc", "kestrel-ipc"],
        why: "the chain, wallet and interface models know nothing of the node, RPC or IPC around them",
    },
    Layer {
        crates: &["kestrel-cli"],
        must_not_reach: &["kestrel-chain", "kestrel-wallet", "kestrel-node"],
        why: "the cli is an RPC client: options and JSON-RPC, no chain, wallet or node inside",
    },
];

struct Layer {
    crates: &'static [&'static str],
    must_not_reach: &'static [&'static str],
    why: &'static str,
}

/// A broken rule: which rule, and the crate or file that breaks it.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    rule: &'static str,
    subject: String,
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.subject, self.detail)
    }
}

/// One declared dependency of a workspace crate.
#[derive(Debug, Clone)]
struct Dep {
    name: String,
    /// Dev-dependencies are only followed one step: what a crate's tests use
    /// is not part of what depends on it.
    dev: bool,
}

/// The workspace's crates and what each declares it depends on.
#[derive(Debug, Default)]
struct Workspace {
    crates: BTreeMap<String, Vec<Dep>>,
}

impl Workspace {
    /// The workspace as `cargo metadata --no-deps` describes it.
    fn load(root: &Path) -> Workspace {
        let metadata = MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .expect("cargo metadata describes the workspace");
        let mut workspace = Workspace::default();
        for package in metadata.workspace_packages() {
            let deps = package
                .dependencies
                .iter()
                .map(|d| Dep {
                    name: d.name.clone(),
                    dev: d.kind == DependencyKind::Development,
                })
                .collect();
            workspace.crates.insert(package.name.to_string(), deps);
        }
        workspace
    }

    /// Crates `name` depends on: its own declared dependencies of every
    /// kind, and through workspace crates their normal and build ones.
    fn reach(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = self.deps(name).iter().map(|d| d.name.as_str()).collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next.to_owned()) {
                todo.extend(
                    self.deps(next)
                        .iter()
                        .filter(|d| !d.dev)
                        .map(|d| d.name.as_str()),
                );
            }
        }
        seen
    }

    fn deps(&self, name: &str) -> &[Dep] {
        self.crates.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The dependency rules over `workspace`.
fn check_dependencies(workspace: &Workspace) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (name, deps) in &workspace.crates {
        if name == CAPNP_OWNER {
            continue;
        }
        for dep in deps
            .iter()
            .filter(|d| CAPNP_CRATES.contains(&d.name.as_str()))
        {
            violations.push(Violation {
                rule: "capnp only in kestrel-ipc",
                subject: format!("crate {name}"),
                detail: format!(
                    "depends on {}; Cap'n Proto belongs to {CAPNP_OWNER}: use its proxies and servers",
                    dep.name
                ),
            });
        }
    }
    for layer in LAYERS {
        for name in layer.crates {
            let reach = workspace.reach(name);
            for forbidden in layer.must_not_reach.iter().filter(|f| reach.contains(**f)) {
                let how = if workspace.deps(name).iter().any(|d| d.name == *forbidden) {
                    "directly".to_owned()
                } else {
                    "through another workspace crate".to_owned()
                };
                violations.push(Violation {
                    rule: "crate layers",
                    subject: format!("crate {name}"),
                    detail: format!("depends on {forbidden} ({how}): {}", layer.why),
                });
            }
        }
    }
    violations
}

/// Every `.rs` file under `crates/` and `xtask/` (build outputs skipped),
/// relative to `root`, sorted.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("reading {}: {e}", root.join(dir).display()));
        for entry in entries {
            let entry = entry.expect("a directory entry");
            let path = dir.join(entry.file_name());
            let file_type = entry.file_type().expect("a file type");
            if file_type.is_dir() && entry.file_name() != "target" {
                walk(root, &path, out);
            } else if file_type.is_file() && path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for top in ["crates", "xtask"] {
        if root.join(top).is_dir() {
            walk(root, Path::new(top), &mut files);
        }
    }
    files.sort();
    files
}

/// Integration tests (`tests/` directories) and test modules in their own
/// file (`tests.rs`) may be long: a scenario reads best in one place.
fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests") || path.ends_with("tests.rs")
}

/// The source rules over the files at `paths` (relative to `root`), with
/// `long_files` as the allow list.
fn check_sources(root: &Path, paths: &[PathBuf], long_files: &[(&str, &str)]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut allowed: BTreeMap<&str, &str> = long_files.iter().copied().collect();
    for path in paths {
        let text = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let shown = path.display().to_string();
        if !text.starts_with("//!") {
            violations.push(Violation {
                rule: "//! first line",
                subject: shown.clone(),
                detail: "the first line must be a `//!` comment saying what the file is".into(),
            });
        }
        let lines = text.lines().count();
        let allowance = allowed.remove(shown.as_str());
        if lines > MAX_LINES && !is_test_file(path) && allowance.is_none() {
            violations.push(Violation {
                rule: "file length",
                subject: shown.clone(),
                detail: format!(
                    "{lines} lines, over {MAX_LINES}: split it by what its parts do, or add it \
                     with its reason to LONG_FILES in xtask/tests/tidy.rs"
                ),
            });
        }
        if allowance.is_some() && lines <= MAX_LINES {
            violations.push(Violation {
                rule: "file length",
                subject: shown,
                detail: format!("{lines} lines, within {MAX_LINES}: remove its LONG_FILES entry"),
            });
        }
    }
    for path in allowed.keys() {
        violations.push(Violation {
            rule: "file length",
            subject: (*path).to_owned(),
            detail: "listed in LONG_FILES but not a source file here: remove the entry".into(),
        });
    }
    violations
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

fn assert_tidy(violations: &[Violation]) {
    let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
    assert!(
        violations.is_empty(),
        "tidy: {} rule(s) broken:\n{}",
        violations.len(),
        list.join("\n")
    );
}

#[test]
fn crate_dependencies_keep_the_layers() {
    let workspace = Workspace::load(&workspace_root());
    // The rules mean nothing if the metadata was not read: the crates they
    // name are there, and the one Cap'n Proto user is seen using it.
    for layer in LAYERS {
        for name in layer.crates {
            assert!(
                workspace.crates.contains_key(*name),
                "no crate {name} in the workspace"
            );
        }
    }
    assert!(workspace.reach(CAPNP_OWNER).contains("capnp"));
    assert_tidy(&check_dependencies(&workspace));
}

#[test]
fn source_files_open_with_a_doc_line_and_stay_short() {
    let root = workspace_root();
    let files = rust_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("xtask/tests/tidy.rs")),
        "the walk did not find this file"
    );
    assert_tidy(&check_sources(&root, &files, LONG_FILES));
}

/// The checker itself, over fixture workspaces and trees.
mod checker {
    use super::*;

    fn workspace(crates: &[(&str, &[(&str, bool)])]) -> Workspace {
        Workspace {
            crates: crates
                .iter()
                .map(|(name, deps)| {
                    let deps = deps
                        .iter()
                        .map(|(dep, dev)| Dep {
                            name: (*dep).to_owned(),
                            dev: *dev,
                        })
                        .collect();
                    ((*name).to_owned(), deps)
                })
                .collect(),
        }
    }

    fn subjects_and_rules(violations: &[Violation]) -> Vec<(String, &'static str)> {
        violations
            .iter()
            .map(|v| (v.subject.clone(), v.rule))
            .collect()
    }

    #[test]
    fn a_layered_workspace_passes() {
        let ws = workspace(&[
            ("kestrel-interfaces", &[("serde", false)]),
            ("kestrel-chain", &[("kestrel-interfaces", false)]),
            (
                "kestrel-wallet",
                &[("kestrel-chain", false), ("tempfile", true)],
            ),
            (
                "kestrel-ipc",
                &[
                    ("kestrel-interfaces", false),
                    ("capnp", false),
                    ("capnpc", false),
                ],
            ),
            ("kestrel-rpc", &[("kestrel-common", false)]),
            (
                "kestrel-cli",
                &[("kestrel-rpc", false), ("kestrel-common", false)],
            ),
            (
                "kestrel-node",
                &[("kestrel-ipc", false), ("kestrel-wallet", false)],
            ),
            // kestrel-common's own tests may start a node: dev-dependencies
            // of the crates the cli reaches are not followed.
            ("kestrel-common", &[("kestrel-node", true)]),
        ]);
        assert_eq!(check_dependencies(&ws), []);
    }

    #[test]
    fn capnp_outside_kestrel_ipc_fails_naming_crate_and_rule() {
        let ws = workspace(&[
            ("kestrel-ipc", &[("capnp", false), ("capnp-rpc", false)]),
            (
                "kestrel-node",
                &[("kestrel-ipc", false), ("capnp-rpc", false)],
            ),
            ("kestrel-gui", &[("capnp", true)]),
        ]);
        let violations = check_dependencies(&ws);
        assert_eq!(
            subjects_and_rules(&violations),
            [
                ("crate kestrel-gui".to_owned(), "capnp only in kestrel-ipc"),
                ("crate kestrel-node".to_owned(), "capnp only in kestrel-ipc"),
            ]
        );
        assert!(violations[1].to_string().contains("depends on capnp-rpc"));
    }

    #[test]
    fn a_model_crate_reaching_the_node_fails_directly_or_through_another() {
        let ws = workspace(&[
            ("kestrel-interfaces", &[]),
            (
                "kestrel-chain",
                &[("kestrel-interfaces", false), ("kestrel-ipc", true)],
            ),
            ("kestrel-wallet", &[("kestrel-helper", false)]),
            ("kestrel-helper", &[("kestrel-rpc", false)]),
            ("kestrel-rpc", &[]),
            ("kestrel-ipc", &[]),
        ]);
        let violations = check_dependencies(&ws);
        let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0]
            .starts_with("[crate layers] crate kestrel-chain: depends on kestrel-ipc (directly)"));
        assert!(shown[1].starts_with(
            "[crate layers] crate kestrel-wallet: depends on kestrel-rpc (through another workspace crate)"
        ));
    }

    #[test]
    fn the_cli_depending_on_chain_wallet_or_node_fails() {
        let ws = workspace(&[
            ("kestrel-cli", &[("kestrel-node", false)]),
            (
                "kestrel-node",
                &[("kestrel-chain", false), ("kestrel-wallet", false)],
            ),
        ]);
        let details: Vec<String> = check_dependencies(&ws)
            .into_iter()
            .map(|v| v.detail)
            .collect();
        assert_eq!(details.len(), 3, "{details:?}");
        assert!(
            details[0].starts_with("depends on kestrel-chain (through another workspace crate)")
        );
        assert!(details[1].starts_with("depends on kestrel-wallet (through another"));
        assert!(details[2].starts_with("depends on kestrel-node (directly)"));
    }

    /// A tree of files under `crates/` in a temporary directory.
    fn tree(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn lines(n: usize) -> String {
        let mut text = "//! A file.\n".to_owned();
        text.push_str(&"let x = 1;\n".repeat(n - 1));
        text
    }

    #[test]
    fn the_walk_finds_rust_files_and_skips_build_outputs() {
        let dir = tree(&[
            ("crates/a/src/lib.rs", lines(1)),
            ("crates/a/src/notes.md", lines(1)),
            ("crates/a/target/debug/build/out.rs", lines(1)),
            ("xtask/src/main.rs", lines(1)),
            ("depends/work/x.rs", lines(1)),
        ]);
        assert_eq!(
            rust_files(dir.path()),
            [
                PathBuf::from("crates/a/src/lib.rs"),
                PathBuf::from("xtask/src/main.rs")
            ]
        );
    }

    #[test]
    fn a_file_without_its_doc_line_fails() {
        let dir = tree(&[
            ("crates/a/src/lib.rs", "// not a doc comment\n".to_owned()),
            ("crates/a/src/ok.rs", lines(3)),
            ("crates/a/src/blank.rs", "\n//! too late\n".to_owned()),
        ]);
        let files = rust_files(dir.path());
        assert_eq!(
            subjects_and_rules(&check_sources(dir.path(), &files, &[])),
            [
                ("crates/a/src/blank.rs".to_owned(), "//! first line"),
                ("crates/a/src/lib.rs".to_owned(), "//! first line"),
            ]
        );
    }

    #[test]
    fn a_long_file_fails_unless_a_test_or_allowed() {
        let dir = tree(&[
            ("crates/a/src/long.rs", lines(MAX_LINES + 1)),
            ("crates/a/src/edge.rs", lines(MAX_LINES)),
            ("crates/a/src/allowed.rs", lines(MAX_LINES + 1)),
            ("crates/a/tests/scenario.rs", lines(MAX_LINES * 2)),
            ("crates/a/src/parser/tests.rs", lines(MAX_LINES * 2)),
        ]);
        let files = rust_files(dir.path());
        let allowed = [("crates/a/src/allowed.rs", "generated tables")];
        let violations = check_sources(dir.path(), &files, &allowed);
        assert_eq!(
            subjects_and_rules(&violations),
            [("crates/a/src/long.rs".to_owned(), "file length")]
        );
        assert!(violations[0].detail.starts_with("601 lines, over 600"));
    }

    #[test]
    fn allow_list_entries_that_are_not_needed_fail() {
        let dir = tree(&[("crates/a/src/short.rs", lines(10))]);
        let files = rust_files(dir.path());
        let allowed = [
            ("crates/a/src/short.rs", "was long once"),
            ("crates/a/src/gone.rs", "was split"),
        ];
        let violations = check_sources(dir.path(), &files, &allowed);
        assert_eq!(
            subjects_and_rules(&violations),
            [
                ("crates/a/src/short.rs".to_owned(), "file length"),
                ("crates/a/src/gone.rs".to_owned(), "file length"),
            ]
        );
        assert!(violations[0].detail.contains("remove its LONG_FILES entry"));
        assert!(violations[1].detail.contains("not a source file here"));
    }
}
