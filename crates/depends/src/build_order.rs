//! Which packages a run builds and in what order: what each waits for, and
//! the plan printed before the builds start.

use crate::pipeline::{join, RunReport};
use crate::plan::PlannedPackage;
use crate::schedule;

/// For each planned package, the indexes of its direct and indirect
/// dependencies (all earlier in the plan), in plan order.
pub(crate) fn needs(planned: &[PlannedPackage]) -> Vec<Vec<usize>> {
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(planned.len());
    for pkg in planned {
        let direct = pkg.recipe.dependencies();
        let mut all: Vec<usize> = Vec::new();
        for (j, dep) in planned[..needs.len()].iter().enumerate() {
            if direct.contains(dep.name()) {
                all.push(j);
                all.extend(&needs[j]);
            }
        }
        all.sort_unstable();
        all.dedup();
        needs.push(all);
    }
    needs
}

/// What a run will do, printed before it starts: what is cached, and the
/// packages to build in waves (each wave's packages start at once, sharing
/// the `-j` budget; a package starts as soon as what it waits for is done).
pub(crate) fn plan_text(
    host: &str,
    planned: &[PlannedPackage],
    to_build: &[usize],
    waits_for: &[Vec<usize>],
    done: &RunReport,
    jobs: usize,
) -> String {
    let name = |k: usize| planned[to_build[k]].name().to_string();
    let mut text = format!(
        "plan for {host}: {} to build, sharing -j{jobs} (one make jobserver); cached: [{}]",
        to_build.len(),
        done.reused.join(", ")
    );
    if !done.downloaded.is_empty() {
        text.push_str(&format!(
            "; from the remote cache: [{}]",
            done.downloaded.join(", ")
        ));
    }
    for (wave, members) in schedule::waves(waits_for).iter().enumerate() {
        let members: Vec<String> = members
            .iter()
            .map(|&k| match waits_for[k].as_slice() {
                [] => name(k),
                after => format!(
                    "{} (after {})",
                    name(k),
                    join(after.iter().map(|&d| name(d)))
                ),
            })
            .collect();
        let at_once = if members.len() > 1 { " at once" } else { "" };
        text.push_str(&format!(
            "\n  {}{at_once}: {}",
            wave + 1,
            members.join(", ")
        ));
    }
    text
}

/// What each package to build waits for: the packages to build among its
/// direct and indirect dependencies (positions in `to_build`, which holds
/// indexes into the plan).
pub(crate) fn waits_for(to_build: &[usize], needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    to_build
        .iter()
        .map(|&i| {
            to_build
                .iter()
                .enumerate()
                .filter(|(_, j)| needs[i].contains(j))
                .map(|(k, _)| k)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::recipe::Recipe;

    fn planned(name: &str, deps: &[&str]) -> PlannedPackage {
        let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
        let text = format!(
            "name = {name:?}\nversion = \"1\"\nnative = true\ndependencies = [{}]\n\
             [source]\nfile_name = \"x.tar.gz\"\nsha256 = \"{}\"\nurls = []\n\
             [build]\nstyle = \"make\"\n",
            deps.join(", "),
            "0".repeat(64)
        );
        let recipe = Recipe::parse(Path::new(&format!("{name}.toml")), text).unwrap();
        PlannedPackage {
            recipe,
            build_id: "0".repeat(64),
            inputs: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_plan_shows_what_builds_at_once_and_what_waits() {
        // cached <- lib <- app; tool independent.
        let planned = vec![
            planned("cached", &[]),
            planned("lib", &["cached"]),
            planned("tool", &[]),
            planned("app", &["lib"]),
        ];
        let needs = needs(&planned);
        assert_eq!(needs[3], vec![0, 1]);
        let to_build = [1, 2, 3];
        let waits_for = vec![vec![], vec![], vec![0]];
        let text = plan_text(
            "h",
            &planned,
            &to_build,
            &waits_for,
            &RunReport {
                reused: vec!["cached".to_owned()],
                ..RunReport::default()
            },
            2,
        );
        assert_eq!(
            text,
            "plan for h: 3 to build, sharing -j2 (one make jobserver); cached: [cached]\n  \
             1 at once: lib, tool\n  2: app (after lib)"
        );
        let from_store = RunReport {
            downloaded: vec!["cached".to_owned()],
            ..RunReport::default()
        };
        let text = plan_text("h", &planned, &to_build, &waits_for, &from_store, 2);
        assert!(
            text.starts_with(
                "plan for h: 3 to build, sharing -j2 (one make jobserver); cached: []; \
                 from the remote cache: [cached]\n"
            ),
            "{text}"
        );
    }
}
