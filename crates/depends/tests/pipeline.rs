//! A whole `depends` run over small packages this test makes itself: real
//! configure/make/cc, real archives, a temp tree; no network (sources are
//! put into the cache, fetching has its own tests).

mod pkg_config;
#[path = "support/tree.rs"]
mod tree;

use std::fs;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use kestrel_depends::install::Manifest;
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::Depends;
use pkg_config::pkg_config;
use tree::{tarball, Tree, HOST};

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

/// A host library in the autotools shape whose own `make install` writes
/// a static library, a header and a pkg-config file naming its prefix.
fn add_library(tree: &Tree, name: &str) {
    let configure = "#!/bin/sh\nfor a; do case \"$a\" in --prefix=*) echo \"prefix=${a#--prefix=}\" > config.mk;; esac; done\n";
    let makefile = format!(
        "include config.mk\n\
         all: lib{name}.a\n\
         lib{name}.a: {name}.c\n\
         \t$(CC) $(CFLAGS) -c {name}.c -o {name}.o\n\
         \tar rcs lib{name}.a {name}.o\n\
         install: all\n\
         \tmkdir -p $(DESTDIR)$(prefix)/lib/pkgconfig $(DESTDIR)$(prefix)/include\n\
         \tcp lib{name}.a $(DESTDIR)$(prefix)/lib/\n\
         \tcp {name}.h $(DESTDIR)$(prefix)/include/\n\
         \tsed 's|@prefix@|$(prefix)|' {name}.pc.in > $(DESTDIR)$(prefix)/lib/pkgconfig/{name}.pc\n"
    );
    let pc = format!(
        "prefix=@prefix@\nlibdir=${{prefix}}/lib\nincludedir=@prefix@/include\n\n\
         Name: {name}\nDescription: a test library\nVersion: 1.0\n\
         Libs: -L${{libdir}} -l{name}\nCflags: -I${{includedir}}\n"
    );
    let source = format!("int {name}_answer(void) {{ return ANSWER; }}\n");
    let header = "int answer(void);\n";
    let tarball = tarball(
        name,
        &[
            ("configure", configure, 0o755),
            ("Makefile", &makefile, 0o644),
            (&format!("{name}.pc.in"), &pc, 0o644),
            (&format!("{name}.c"), &source, 0o644),
            (&format!("{name}.h"), header, 0o644),
        ],
    );
    tree.add_recipe(
        name,
        &tarball,
        "",
        "[build]\nstyle = \"autotools\"\nstaged_install = true\ncflags = [\"-DANSWER=42\"]\n",
    );
}

#[test]
fn library_install_is_staged_and_its_pc_file_finds_the_prefix() {
    let tree = Tree::new();
    add_library(&tree, "demo");
    let report = tree.run();
    assert_eq!(report.built, names(&["demo"]));
    let prefix = tree.prefix();
    assert!(prefix.join("lib/libdemo.a").is_file());
    assert!(prefix.join("include/demo.h").is_file());
    let pc = fs::read_to_string(prefix.join("lib/pkgconfig/demo.pc")).unwrap();
    assert!(pc.starts_with("prefix=${pcfiledir}/../..\n"), "{pc}");
    assert!(!pc.contains("/kestrel-depends"), "{pc}");
    // The system's zlib.pc (zlib1g-dev, from ci/install-prerequisites.sh)
    // is the decoy: found as the system has it, invisible through the
    // prefix's settings.
    assert!(pkg_config(None, &["--exists", "zlib"]).status.success());
    assert!(!pkg_config(Some(&prefix), &["--exists", "zlib"])
        .status
        .success());
    let out = pkg_config(Some(&prefix), &["--cflags", "--libs", "demo"]);
    assert!(out.status.success(), "{out:?}");
    let flags = String::from_utf8(out.stdout).unwrap();
    let include = flags
        .split_whitespace()
        .find_map(|f| f.strip_prefix("-I"))
        .unwrap_or_else(|| panic!("no -I in {flags}"));
    assert_eq!(
        fs::canonicalize(include).unwrap(),
        fs::canonicalize(prefix.join("include")).unwrap()
    );
}

const DEMO_PATCH: &str = "\
--- a/demo.c
+++ b/demo.c
@@ -1 +1,2 @@
 int demo_answer(void) { return ANSWER; }
+int demo_patched(void) { return 1; }
";

#[test]
fn patches_apply_in_order_and_are_part_of_the_build_id() {
    let tree = Tree::new();
    add_library(&tree, "demo");
    let plain = tree.depends().print("demo", "build_id").unwrap();
    tree.add_patch("demo", "01-add.patch", DEMO_PATCH);
    // The second patch changes what the first added: order matters.
    tree.add_patch(
        "demo",
        "02-change.patch",
        "--- a/demo.c\n+++ b/demo.c\n@@ -1,2 +1,2 @@\n int demo_answer(void) { return ANSWER; }\n-int demo_patched(void) { return 1; }\n+int demo_patched(void) { return 2; }\n",
    );
    let patched = tree.depends().print("demo", "build_id").unwrap();
    assert_ne!(plain, patched);
    tree.run();
    let lib = fs::read(tree.prefix().join("lib/libdemo.a")).unwrap();
    assert!(
        lib.windows(b"demo_patched".len())
            .any(|w| w == b"demo_patched"),
        "the patched function is in the library"
    );
}

#[test]
fn a_patch_that_does_not_apply_names_its_hunk_and_installs_nothing() {
    let tree = Tree::new();
    add_library(&tree, "demo");
    tree.add_patch(
        "demo",
        "01-stale.patch",
        &DEMO_PATCH.replace(" int demo_answer", " int demo_question"),
    );
    let err = format!("{:#}", tree.depends().run().unwrap_err());
    assert!(
        err.contains("demo: patch 01-stale.patch does not apply to b/demo.c"),
        "{err}"
    );
    assert!(err.contains("hunk #1"), "{err}");
    assert!(!tree.prefix().exists(), "nothing installed");
    let built = tree.root().join("depends/built").join(HOST);
    assert!(
        fs::read_dir(&built).map_or(true, |mut d| d.next().is_none()),
        "no archive in {}",
        built.display()
    );
}

#[test]
fn install_rules_copy_directories_whole() {
    let tree = Tree::new();
    let tarball = tarball(
        "data",
        &[
            ("Makefile", "all:\n\ttrue\n", 0o644),
            ("share/a.txt", "a", 0o644),
            ("share/sub/b.txt", "b", 0o644),
        ],
    );
    tree.add_recipe(
        "data",
        &tarball,
        "native = true",
        "[build]\nstyle = \"make\"\nconfigure_command = [\"sh\", \"-c\", \"echo {prefix} {jobs} > configured\"]\n\n\
         [[install]]\nfiles = [\"share\", \"configured\"]\nto = \"share/data\"\n",
    );
    tree.run();
    let dir = tree.prefix().join("native/share/data");
    assert_eq!(
        fs::read_to_string(dir.join("share/sub/b.txt")).unwrap(),
        "b"
    );
    assert_eq!(fs::read_to_string(dir.join("share/a.txt")).unwrap(), "a");
    assert_eq!(
        fs::read_to_string(dir.join("configured")).unwrap(),
        format!("/kestrel-depends/{HOST}/native 2\n")
    );
}

#[test]
#[ignore = "needs the workspace's native_cmake (cargo xtask depends --cxx-ipc); run by cargo xtask test"]
fn a_cmake_package_builds_against_an_autotools_one_with_the_depends_cmake() {
    let tree = Tree::new();
    tree.add_workspace_cmake();
    add_library(&tree, "demo");
    // Finds the library through toolchain.cmake's find-root (the private
    // dependency prefix), links it, installs with its own install rules.
    let cmakelists = "cmake_minimum_required(VERSION 3.21)\n\
        project(usedemo C)\n\
        find_library(DEMO_LIB demo REQUIRED)\n\
        find_path(DEMO_INCLUDE demo.h REQUIRED)\n\
        add_executable(usedemo main.c)\n\
        target_include_directories(usedemo PRIVATE ${DEMO_INCLUDE})\n\
        target_compile_definitions(usedemo PRIVATE GREETING=\"${GREETING}\")\n\
        target_link_libraries(usedemo ${DEMO_LIB})\n\
        install(TARGETS usedemo DESTINATION bin)\n";
    let main = "#include <stdio.h>\n#include \"demo.h\"\nint demo_answer(void);\n\
        int main(void) { printf(\"%s %d\\n\", GREETING, demo_answer()); return 0; }\n";
    let tarball = tarball(
        "usedemo",
        &[
            ("CMakeLists.txt", cmakelists, 0o644),
            ("main.c", main, 0o644),
        ],
    );
    tree.add_recipe(
        "usedemo",
        &tarball,
        "dependencies = [\"demo\"]",
        "[build]\nstyle = \"cmake\"\nstaged_install = true\ndefines = { GREETING = \"hello\" }\n\n\
         [build.host.linux]\ndefines = { GREETING = \"hello linux\" }\n",
    );
    let report = tree.run();
    assert_eq!(report.built, names(&["demo", "usedemo"]));
    assert_eq!(report.reused, names(&["native_cmake"]));
    let out = std::process::Command::new(tree.prefix().join("bin/usedemo"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello linux 42\n");
}

/// A make-style package whose build records when it started and ended
/// (`<markers>/<name>.start`, `.end`, nanoseconds) and the MAKEFLAGS its
/// make got. With `meet`, it also waits (up to 60 s) for `meet`'s start
/// marker before it ends: two such packages finish only if they run at
/// once, and a run that builds them one after the other fails.
///
/// The start marker is written to a `.tmp` file and renamed: `date > f`
/// creates `f` before `date` reads the clock, so a peer that saw a bare `f`
/// could end before the time in it.
fn add_timed_package(tree: &Tree, name: &str, markers: &Path, meet: Option<&str>) {
    let m = markers.display();
    let wait = meet
        .map(|other| {
            format!(
                "\ti=0; while [ ! -e {m}/{other}.start ] && [ $$i -lt 600 ]; do sleep 0.1; i=$$((i+1)); done\n"
            )
        })
        .unwrap_or_default();
    let makefile = format!(
        "all:\n\
         \tdate +%s%N > {m}/{name}.start.tmp && mv {m}/{name}.start.tmp {m}/{name}.start\n\
         \techo '$(MAKEFLAGS)' > {m}/{name}.makeflags\n\
         {wait}\
         \tdate +%s%N > {m}/{name}.end\n\
         \techo built > {name}.out\n"
    );
    tree.add_recipe(
        name,
        &tarball(name, &[("Makefile", &makefile, 0o644)]),
        "native = true",
        &format!(
            "[build]\nstyle = \"make\"\n\n[[install]]\nfiles = [\"{name}.out\"]\nto = \"share\"\n"
        ),
    );
}

/// `(start, end)` of a timed package's build, in nanoseconds.
fn build_interval(markers: &Path, name: &str) -> (u128, u128) {
    let read = |what: &str| -> u128 {
        let path = markers.join(format!("{name}.{what}"));
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .unwrap()
    };
    (read("start"), read("end"))
}

#[test]
fn independent_packages_build_at_once_sharing_one_jobserver() {
    let tree = Tree::new();
    let markers = tree.root().join("markers");
    fs::create_dir_all(&markers).unwrap();
    add_timed_package(&tree, "left", &markers, Some("right"));
    add_timed_package(&tree, "right", &markers, Some("left"));
    let report = tree.run();
    assert_eq!(report.built, names(&["left", "right"]));
    let (left_start, left_end) = build_interval(&markers, "left");
    let (right_start, right_end) = build_interval(&markers, "right");
    assert!(
        left_start < right_end && right_start < left_end,
        "the builds did not overlap: left {left_start}..{left_end}, right {right_start}..{right_end}"
    );
    for name in ["left", "right"] {
        let flags = fs::read_to_string(markers.join(format!("{name}.makeflags"))).unwrap();
        assert!(flags.contains("--jobserver-auth="), "{name}: {flags}");
    }
    assert!(tree.prefix().join("native/share/left.out").is_file());
    assert!(tree.prefix().join("native/share/right.out").is_file());
}

#[test]
fn with_one_job_packages_build_one_after_the_other() {
    let tree = Tree::new();
    let markers = tree.root().join("markers");
    fs::create_dir_all(&markers).unwrap();
    add_timed_package(&tree, "left", &markers, None);
    add_timed_package(&tree, "right", &markers, None);
    let mut config = tree.config();
    config.jobs = 1;
    let report = Depends::load(config, Progress::quiet())
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.built, names(&["left", "right"]));
    let (left_start, left_end) = build_interval(&markers, "left");
    let (right_start, right_end) = build_interval(&markers, "right");
    assert!(
        left_end <= right_start || right_end <= left_start,
        "the builds overlapped with -j1: left {left_start}..{left_end}, right {right_start}..{right_end}"
    );
}

#[test]
fn a_cross_host_reuses_the_build_machines_native_archives() {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    assert_eq!(tree.run().built, names(&["alpha"]));

    let cross = "aarch64-unknown-linux-gnu";
    let mut config = tree.config();
    config.host = cross.to_owned();
    let depends = Depends::load(config, Progress::quiet()).unwrap();
    let report = depends.run().unwrap();
    assert_eq!(report.built, Vec::<String>::new());
    assert_eq!(report.reused, names(&["alpha"]));
    let native_tool = |host: &str| {
        fs::read(
            tree.root()
                .join("depends")
                .join(host)
                .join("native/bin/alpha"),
        )
        .unwrap()
    };
    assert_eq!(native_tool(cross), native_tool(HOST));
    // The archive stays with the build machine's; the cross host has none.
    assert!(!tree.root().join("depends/built").join(cross).exists());
    assert_eq!(
        depends.print("alpha", "build_id").unwrap(),
        tree.depends().print("alpha", "build_id").unwrap()
    );
}
