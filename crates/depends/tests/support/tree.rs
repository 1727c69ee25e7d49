//! A temp workspace tree for whole `depends` runs: the repository's
//! toolchain files, small packages made on the spot (real configure, make
//! and cc), their sources put straight into the cache.

// Each test crate that includes this uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use kestrel_depends::mirror::Mirrors;
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::{Config, Depends};

pub const HOST: &str = "x86_64-unknown-linux-gnu";

/// A configure script in the autotools shape: records its arguments and
/// writes a Makefile that compiles `tool.c` into `<name>` with the CC/CFLAGS
/// it was given. Packages with a dependency check that the dependency's
/// files are there.
pub fn configure_script(name: &str, needs: Option<&str>) -> String {
    let check = needs
        .map(|dep| format!("\ttest -x \"$(DEPENDS_PREFIX)/native/bin/{dep}\"\n"))
        .unwrap_or_default();
    format!(
        "#!/bin/sh\necho \"$@\" > configure.args\ncat > Makefile <<EOF\nall: {name}\n{name}: tool.c\n{}\t\\$(CC) \\$(CFLAGS) -o {name} tool.c\nEOF\n",
        check.replace('$', "\\$")
    )
}

pub fn source_tarball(name: &str, configure: &str, c_body: &str) -> Vec<u8> {
    let tool = format!("#include <stdio.h>\nint main(void) {{ {c_body} return 0; }}\n");
    tarball(
        name,
        &[("configure", configure, 0o755), ("tool.c", &tool, 0o644)],
    )
}

/// A `<name>-1.0/` source tarball of `(path, contents, mode)` files.
pub fn tarball(name: &str, files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}-1.0/{path}"), data.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
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

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Adds package `name` (native, builds and installs `bin/<name>`), its source put straight into the cache.
    pub fn add_package(&self, name: &str, deps: &[&str], extra_option: &str) {
        self.add_package_with(name, deps, extra_option, "puts(\"hi\");")
    }

    pub fn add_package_with(&self, name: &str, deps: &[&str], option: &str, c_body: &str) {
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

    /// Puts `tarball` into the source cache as `<name>-1.0.tar.gz` and
    /// writes the recipe `<name>.toml`: `head`, then the `[source]` table
    /// for the tarball, then `rest`.
    pub fn add_recipe(&self, name: &str, tarball: &[u8], head: &str, rest: &str) {
        let file_name = format!("{name}-1.0.tar.gz");
        fs::write(
            self.root().join("depends/sources").join(&file_name),
            tarball,
        )
        .unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tarball));
        let recipe = format!(
            "name = \"{name}\"\nversion = \"1.0\"\n{head}\n[source]\nfile_name = \"{file_name}\"\nsha256 = \"{sha}\"\nurls = []\n\n{rest}"
        );
        fs::write(
            self.root().join(format!("depends/packages/{name}.toml")),
            recipe,
        )
        .unwrap();
    }

    /// Adds `depends/patches/<package>/<file>`.
    pub fn add_patch(&self, package: &str, file: &str, text: &str) {
        let dir = self.root().join("depends/patches").join(package);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(file), text).unwrap();
    }

    /// Replaces `from` with `to` in package `name`'s recipe.
    pub fn edit_recipe(&self, name: &str, from: &str, to: &str) {
        let path = self.root().join(format!("depends/packages/{name}.toml"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in {}", path.display());
        fs::write(&path, text.replace(from, to)).unwrap();
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new(self.root(), HOST, HOST);
        config.jobs = 2;
        config.mirrors = Mirrors::default();
        config.cmake_driver = vec![env!("CARGO_BIN_EXE_kestrel-depends-cmake").into()];
        config
    }

    /// Adds the workspace's `native_cmake` recipe and its built archive
    /// (same recipe, host file and compilers: same build id, so it is
    /// reused, not built again).
    pub fn add_workspace_cmake(&self) {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        fs::copy(
            workspace.join("depends/packages/native_cmake.toml"),
            self.root().join("depends/packages/native_cmake.toml"),
        )
        .unwrap();
        let built = workspace.join("depends/built").join(HOST);
        let here = self.root().join("depends/built").join(HOST);
        fs::create_dir_all(&here).unwrap();
        let mut found = false;
        for entry in fs::read_dir(&built).into_iter().flatten() {
            let entry = entry.unwrap();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("native_cmake-")
            {
                fs::copy(entry.path(), here.join(entry.file_name())).unwrap();
                found = true;
            }
        }
        assert!(
            found,
            "no native_cmake archive in {}: run `cargo xtask depends --cxx-ipc` first",
            built.display()
        );
    }

    pub fn depends(&self) -> Depends {
        Depends::load(self.config(), Progress::quiet()).unwrap()
    }

    pub fn run(&self) -> RunReport {
        self.depends().run().unwrap()
    }

    pub fn prefix(&self) -> PathBuf {
        self.root().join("depends").join(HOST)
    }
}
