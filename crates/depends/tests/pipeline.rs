//! A whole `depends` run over small packages this test makes itself: real
//! configure/make/cc, real archives, a temp tree; no network (sources are
//! put into the cache, fetching has its own tests).

use std::fs;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use kestrel_depends::install::Manifest;
use kestrel_depends::mirror::Mirrors;
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::{Config, Depends};

const HOST: &str = "x86_64-unknown-linux-gnu";

/// A configure script in the autotools shape: records its arguments and
/// writes a Makefile that compiles `tool.c` into `<name>` with the CC/CFLAGS
/// it was given. Packages with a dependency check that the dependency's
/// files are there.
fn configure_script(name: &str, needs: Option<&str>) -> String {
    let check = needs
        .map(|dep| format!("\ttest -x \"$(DEPENDS_PREFIX)/native/bin/{dep}\"\n"))
        .unwrap_or_default();
    format!(
        "#!/bin/sh\necho \"$@\" > configure.args\ncat > Makefile <<EOF\nall: {name}\n{name}: tool.c\n{}\t\\$(CC) \\$(CFLAGS) -o {name} tool.c\nEOF\n",
        check.replace('$', "\\$")
    )
}

fn source_tarball(name: &str, configure: &str, c_body: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut add = |path: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}-1.0/{path}"), data)
            .unwrap();
    };
    add("configure", configure.as_bytes(), 0o755);
    add(
        "tool.c",
        format!("#include <stdio.h>\nint main(void) {{ {c_body} return 0; }}\n").as_bytes(),
        0o644,
    );
    tar.into_inner().unwrap().finish().unwrap()
}

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let toolchains = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolchains");
        fs::create_dir_all(dir.path().join("toolchains")).unwrap();
        for entry in fs::read_dir(toolchains).unwrap() {
            let entry = entry.unwrap();
            fs::copy(
                entry.path(),
                dir.path().join("toolchains").join(entry.file_name()),
            )
            .unwrap();
        }
        fs::create_dir_all(dir.path().join("depends/packages")).unwrap();
        fs::create_dir_all(dir.path().join("depends/sources")).unwrap();
        Tree { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Adds package `name` (native, builds and installs `bin/<name>`), its source put straight into the cache.
    fn add_package(&self, name: &str, deps: &[&str], extra_option: &str) {
        self.add_package_with(name, deps, extra_option, "puts(\"hi\");")
    }

    fn add_package_with(&self, name: &str, deps: &[&str], option: &str, c_body: &str) {
        let tarball = source_tarball(name, &configure_script(name, deps.first().copied()), c_body);
        let file_name = format!("{name}-1.0.tar.gz");
        fs::write(
            self.root().join("depends/sources").join(&file_name),
            &tarball,
        )
        .unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&tarball));
        let deps = deps
            .iter()
            .map(|d| format!("{d:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let recipe = format!(
            r#"name = "{name}"
version = "1.0"
native = true
dependencies = [{deps}]

[source]
file_name = "{file_name}"
sha256 = "{sha}"
urls = []

[build]
style = "autotools"
configure_options = [{option:?}]

[[install]]
files = ["{name}"]
to = "bin"
"#
        );
        fs::write(
            self.root().join(format!("depends/packages/{name}.toml")),
            recipe,
        )
        .unwrap();
    }

    /// Replaces `from` with `to` in package `name`'s recipe.
    fn edit_recipe(&self, name: &str, from: &str, to: &str) {
        let path = self.root().join(format!("depends/packages/{name}.toml"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in {}", path.display());
        fs::write(&path, text.replace(from, to)).unwrap();
    }

    fn config(&self) -> Config {
        let mut config = Config::new(self.root(), HOST, HOST);
        config.jobs = 2;
        config.mirrors = Mirrors::default();
        config
    }

    fn depends(&self) -> Depends {
        Depends::load(self.config(), Progress::quiet()).unwrap()
    }

    fn run(&self) -> RunReport {
        self.depends().run().unwrap()
    }

    fn prefix(&self) -> PathBuf {
        self.root().join("depends").join(HOST)
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn builds_installs_and_then_does_nothing() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.add_package("beta", &["alpha"], "--two");

    let first = tree.run();
    assert_eq!(first.built, names(&["alpha", "beta"]));
    // The installed tool runs, and the manifest hashes every file.
    let out = std::process::Command::new(tree.prefix().join("native/bin/alpha"))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hi\n");
    let manifest = Manifest::read(&tree.prefix()).unwrap();
    assert!(manifest.files.contains_key("native/bin/alpha"));
    assert!(manifest.files.contains_key("toolchain.cmake"));
    assert!(manifest.files.contains_key("cargo-config.toml"));
    assert_eq!(
        manifest.files["native/bin/alpha"].sha256,
        kestrel_depends::fetch::sha256_file(&tree.prefix().join("native/bin/alpha")).unwrap()
    );

    let second = tree.run();
    assert!(second.up_to_date, "{second:?}");
    assert!(second.built.is_empty());

    // A lost prefix comes back from the built archives without building.
    fs::remove_dir_all(tree.prefix()).unwrap();
    let third = tree.run();
    assert_eq!(third.built, Vec::<String>::new());
    assert_eq!(third.reused, names(&["alpha", "beta"]));
    assert!(tree.prefix().join("native/bin/alpha").is_file());
}

#[test]
fn recipe_change_rebuilds_that_package_and_its_dependents_only() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.add_package("beta", &["alpha"], "--two");
    tree.add_package("gamma", &[], "--three");
    tree.run();

    tree.add_package("alpha", &[], "--changed");
    let report = tree.run();
    assert_eq!(report.built, names(&["alpha", "beta"]));
    assert_eq!(report.reused, names(&["gamma"]));
}

#[test]
fn failed_build_keeps_its_log_and_the_previous_prefix() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.run();
    let before = Manifest::read(&tree.prefix()).unwrap();

    tree.add_package_with("alpha", &[], "--one", "this is not C;");
    let err = format!("{:#}", tree.depends().run().unwrap_err());
    assert!(err.contains("alpha: make failed"), "{err}");
    let log = tree
        .root()
        .join("depends/work/logs")
        .join(HOST)
        .join("alpha.log");
    assert!(err.contains(&log.display().to_string()), "{err}");
    let log_text = fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("error"), "{log_text}");
    assert_eq!(Manifest::read(&tree.prefix()).unwrap(), before);
    assert!(tree.prefix().join("native/bin/alpha").is_file());
}

#[test]
fn corrupt_cached_archive_is_rebuilt() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.run();
    let built = tree.root().join("depends/built").join(HOST);
    let archive = fs::read_dir(&built)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = fs::read(&archive).unwrap();
    fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    fs::remove_dir_all(tree.prefix()).unwrap();

    let report = tree.run();
    assert_eq!(report.built, names(&["alpha"]));
    assert_eq!(
        fs::read(&archive).unwrap(),
        bytes,
        "rebuilt archive is byte-identical"
    );
}

#[test]
fn malicious_source_archive_is_refused() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..18].copy_from_slice(b"alpha-1.0/../../x0");
    h.set_cksum();
    tar.append(&h, &b"evil"[..]).unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    fs::write(tree.root().join("depends/sources/alpha-1.0.tar.gz"), &bytes).unwrap();
    let recipe = fs::read_to_string(tree.root().join("depends/packages/alpha.toml")).unwrap();
    let old_sha = recipe.lines().find(|l| l.starts_with("sha256")).unwrap();
    tree.edit_recipe("alpha", old_sha, &format!("sha256 = \"{sha}\""));

    let err = format!("{:#}", tree.depends().run().unwrap_err());
    assert!(err.contains("refusing archive"), "{err}");
    assert!(err.contains("alpha-1.0/../../x0"), "{err}");
    assert!(!tree.root().join("depends/work/x0").exists());
    assert!(!tree.root().join("depends/x0").exists());
}

#[test]
fn offline_without_the_source_names_the_file() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    fs::remove_file(tree.root().join("depends/sources/alpha-1.0.tar.gz")).unwrap();
    let mut config = tree.config();
    config.offline = true;
    let err = format!(
        "{:#}",
        Depends::load(config, Progress::quiet())
            .unwrap()
            .run()
            .unwrap_err()
    );
    assert!(err.contains("alpha-1.0.tar.gz"), "{err}");
    assert!(err.contains("cargo xtask depends download"), "{err}");
}

#[test]
fn malformed_recipe_is_rejected_with_file_and_line() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.edit_recipe("alpha", "version = \"1.0\"", "version = 1.0 oops");
    let err = Depends::load(tree.config(), Progress::quiet())
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap();
    assert!(err.contains("alpha.toml"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn two_runs_at_once_build_once() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    let reports: Vec<RunReport> = std::thread::scope(|s| {
        let a = s.spawn(|| tree.run());
        let b = s.spawn(|| tree.run());
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let built: usize = reports.iter().map(|r| r.built.len()).sum();
    assert_eq!(built, 1, "{reports:?}");
    assert!(reports.iter().any(|r| r.up_to_date), "{reports:?}");
}

#[test]
fn without_multiprocess_ipc_packages_are_left_out() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.edit_recipe(
        "alpha",
        "native = true",
        "native = true\nmultiprocess = true",
    );
    let mut config = tree.config();
    config.multiprocess = false;
    let report = Depends::load(config, Progress::quiet())
        .unwrap()
        .run()
        .unwrap();
    assert!(report.built.is_empty());
    let manifest = Manifest::read(&tree.prefix()).unwrap();
    assert!(!manifest.multiprocess);
    let cmake = fs::read_to_string(tree.prefix().join("toolchain.cmake")).unwrap();
    assert!(cmake.contains("set(ENABLE_IPC OFF"), "{cmake}");
}

#[test]
fn template_change_rewrites_toolchain_files_without_rebuilding() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree.run();
    let template = tree.root().join("toolchains/cargo-config.toml.in");
    let mut text = fs::read_to_string(&template).unwrap();
    text.push_str("# edited template\n");
    fs::write(&template, text).unwrap();

    let report = tree.run();
    assert!(!report.up_to_date);
    assert!(report.built.is_empty(), "{report:?}");
    let written = fs::read_to_string(tree.prefix().join("cargo-config.toml")).unwrap();
    assert!(written.ends_with("# edited template\n"), "{written}");
    assert!(tree.run().up_to_date);
}
