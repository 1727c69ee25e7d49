//! Unit tests of recipe parsing and validation.

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
    assert_eq!(r.spec.install[0].to.as_str(), "bin");
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

const CMAKE: &str = r#"
name = "demo"
version = "1.0"

[source]
file_name = "demo-1.0.tar.gz"
sha256 = "07167580e563f5e821e3b2af1c238c16ec7181612650c5901330fa9a0da50939"
urls = []

[build]
style = "cmake"
staged_install = true
defines = { BUILD_TESTING = "OFF", WITH_X = "ON" }

[build.host.linux]
defines = { WITH_X = "linux" }
cflags = ["-DLINUX"]

[build.host.aarch64-unknown-linux-gnu]
defines = { WITH_X = "aarch64" }
"#;

fn parse_as(name: &str, text: &str) -> Result<Recipe, RecipeError> {
    Recipe::parse(Path::new(&format!("packages/{name}.toml")), text.to_owned())
}

#[test]
fn cmake_recipe_depends_on_native_cmake_and_keys_options_by_host() {
    let r = parse_as("demo", CMAKE).unwrap();
    assert_eq!(r.spec.build.style, BuildStyle::Cmake);
    assert!(r.spec.build.staged_install);
    assert_eq!(
        r.dependencies(),
        vec![PackageName(CMAKE_PACKAGE.to_owned())]
    );
    let x86 = r.spec.build.options_for("x86_64-unknown-linux-gnu");
    assert_eq!(x86.defines["WITH_X"], "linux");
    assert_eq!(x86.defines["BUILD_TESTING"], "OFF");
    assert_eq!(x86.cflags, ["-DLINUX"]);
    // The triple's table applies after the OS's.
    let arm = r.spec.build.options_for("aarch64-unknown-linux-gnu");
    assert_eq!(arm.defines["WITH_X"], "aarch64");
    let mac = r.spec.build.options_for("aarch64-apple-darwin");
    assert_eq!(mac.defines["WITH_X"], "ON");
    assert!(mac.cflags.is_empty());
}

#[test]
fn unknown_host_key_names_line() {
    let bad = CMAKE.replace("[build.host.linux]", "[build.host.linxu]");
    let err = parse_as("demo", &bad).unwrap_err().to_string();
    assert!(err.contains("line 15"), "{err}");
    assert!(err.contains("\"linxu\""), "{err}");
    assert!(err.contains("target triple"), "{err}");
}

#[test]
fn a_field_of_another_style_names_its_line() {
    let bad = CMAKE.replace(
        "staged_install = true",
        "staged_install = true\nconfigure_options = [\"--x\"]",
    );
    let err = parse_as("demo", &bad).unwrap_err().to_string();
    assert!(err.contains("line 13"), "{err}");
    assert!(
        err.contains("`configure_options` is read only by style = \"autotools\""),
        "{err}"
    );
    let bad = GOOD.replace("make_targets", "defines = { A = \"1\" }\nmake_targets");
    let err = parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("`defines` is read only by style = \"cmake\""),
        "{err}"
    );
    assert!(err.contains("line 13"), "{err}");
    let bad = GOOD.replace(
        "make_targets",
        "configure_command = [\"./bootstrap\"]\nmake_targets",
    );
    let err = parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("`configure_command` is read only by style = \"make\""),
        "{err}"
    );
}

#[test]
fn make_style_takes_a_configure_command() {
    let text = GOOD.replace(
        "style = \"autotools\"",
        "style = \"make\"\nconfigure_command = [\"./bootstrap\", \"--prefix={prefix}\"]",
    );
    let r = parse(&text).unwrap();
    assert_eq!(
        r.spec.build.configure_command,
        ["./bootstrap", "--prefix={prefix}"]
    );
    assert!(r.dependencies().is_empty());
}

#[test]
fn install_paths_must_stay_inside_the_tree() {
    for bad_path in ["../demo", "/etc/passwd", "a/../../b", ""] {
        let bad = GOOD.replace("files = [\"demo\"]", &format!("files = [{bad_path:?}]"));
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("packages/native_demo.toml"),
            "{bad_path}: {err}"
        );
        assert!(err.contains("line 16"), "{bad_path}: {err}");
        assert!(err.contains("leaves its tree"), "{bad_path}: {err}");
    }
    let bad = GOOD.replace("to = \"bin\"", "to = \"../bin\"");
    let err = parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("line 17") && err.contains("leaves its tree"),
        "{err}"
    );
    let good = GOOD.replace(
        "files = [\"demo\"]",
        "files = [\"./out/demo\", \"share/x\"]",
    );
    parse(&good).unwrap();
}

#[test]
fn patches_are_loaded_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    std::fs::write(packages.join("native_demo.toml"), GOOD).unwrap();
    let patches = dir.path().join("patches/native_demo");
    std::fs::create_dir_all(&patches).unwrap();
    std::fs::write(patches.join("02-second.patch"), "b").unwrap();
    std::fs::write(patches.join("01-first.patch"), "a").unwrap();
    std::fs::write(patches.join("README"), "not a patch").unwrap();
    let book = RecipeBook::load(&packages).unwrap();
    let names: Vec<&str> = book
        .recipes
        .values()
        .next()
        .unwrap()
        .patches
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["01-first.patch", "02-second.patch"]);
}

#[test]
fn a_cmake_package_without_native_cmake_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.toml"), CMAKE).unwrap();
    let err = RecipeBook::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("depends on native_cmake"), "{err}");
}

#[test]
fn a_native_package_may_not_depend_on_a_host_package() {
    let dir = tempfile::tempdir().unwrap();
    let host_lib = GOOD
        .replace("name = \"native_demo\"", "name = \"hostlib\"")
        .replace("native = true\n", "");
    std::fs::write(dir.path().join("hostlib.toml"), host_lib).unwrap();
    let native = GOOD.replace(
        "native = true\n",
        "native = true\ndependencies = [\"hostlib\"]\n",
    );
    std::fs::write(dir.path().join("native_demo.toml"), native).unwrap();
    let err = RecipeBook::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("native package native_demo depends on hostlib, which is built for the host"),
        "{err}"
    );
}
