//! The architecture, checked: reads this crate's sources and fails when a module imports upward or round in a cycle,
//! or when a source file grows past its size. The layers and rooms are described in the README ("How the code is
//! organised").
//!
//! A module is a top-level entry of `src/` (a file, or a folder with everything under it); `crate::x` anywhere in its
//! code (not in comments, not in its `#[cfg(test)] mod tests`) is an edge to `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The foundation: they may import each other (without cycles), never a domain or the top.
const FOUNDATION: &[&str] = &[
    "audit",
    "auth",
    "config",
    "crypto",
    "db",
    "deadlines",
    "error",
    "graphql",
    "ids",
    "jobs",
    "keys",
    "metrics",
    "outbound",
    "owed",
    "pagination",
    "taxonomy",
    "telemetry",
    "tenancy",
    "validate",
];

/// The domains, each a folder with its service and its resolvers; they may import the foundation and each other
/// without cycles, never the top.
const DOMAINS: &[&str] = &[
    "accountability",
    "erasure",
    "grants",
    "notices",
    "offboarding",
    "privacy_policy",
    "registry",
    "requests",
    "retention",
    "subjects",
    "tenants",
    "users",
];

/// The top: assembles the domains into a server; nothing below imports it.
const TOP: &[&str] = &["cli", "demo", "http", "schema", "worker"];

/// The most lines a source file may have outside its test module.
const MAX_LINES: usize = 800;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file with its path under `src/`, `/`-separated (`http/mod.rs`).
fn source_files() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, file)
        })
        .collect()
}

/// A file's code without its unit-test module and without comments.
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.starts_with("mod tests")) {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        kept.push_str(line.split(" //").next().unwrap_or(line));
        kept.push('\n');
    }
    kept
}

/// The top-level modules a piece of code names through `crate::…`, including `use crate::{a, b::c}` groups.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(std::mem::take(&mut name));
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    name.push(c);
                }
            }
            found.insert(name);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found
        .into_iter()
        .map(|n| n.trim().split("::").next().unwrap_or("").trim().to_owned())
        .filter(|n| n.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect()
}

fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if matches!(module.as_str(), "lib" | "main" | "layers") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let targets = edges.entry(module.clone()).or_default();
        for target in imports(&code(&text)) {
            if target != module {
                targets.insert(target);
            }
        }
    }
    edges
}

/// A cycle through `start`, if any, as the path of modules.
fn cycle_from(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in edges.get(&at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn every_module_has_a_layer() {
    for module in graph().keys() {
        assert!(
            FOUNDATION.contains(&module.as_str())
                || DOMAINS.contains(&module.as_str())
                || TOP.contains(&module.as_str()),
            "`{module}` is in no layer: add it to FOUNDATION, DOMAINS or TOP in layers.rs and the README"
        );
    }
}

#[test]
fn no_module_imports_in_a_cycle() {
    let edges = graph();
    for module in edges.keys() {
        if let Some(cycle) = cycle_from(&edges, module) {
            panic!(
                "modules import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn lower_layers_never_import_higher_ones() {
    for (module, targets) in graph() {
        let forbidden: &[&str] = if FOUNDATION.contains(&module.as_str()) {
            &[DOMAINS, TOP].concat()
        } else if DOMAINS.contains(&module.as_str()) {
            TOP
        } else {
            &[]
        };
        for target in targets {
            assert!(
                !forbidden.contains(&target.as_str()),
                "`{module}` imports `{target}`, a layer above it"
            );
        }
    }
}

#[test]
fn source_files_stay_small() {
    for (rel, file) in source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = 0;
        let mut iter = text.lines().peekable();
        while let Some(line) = iter.next() {
            if line == "#[cfg(test)]" && iter.peek().is_some_and(|l| l.starts_with("mod tests")) {
                break;
            }
            lines += 1;
        }
        assert!(
            lines <= MAX_LINES,
            "{rel} has {lines} lines outside its tests; split it (the limit is {MAX_LINES})"
        );
    }
}

/// Where a piece of code reaches a region's database other than through a `Scope` or the platform capability:
/// `.regions()` not taken from a `Platform`, `Databases::region`, the raw `databases()` handle, or a transaction begun
/// on a scope's connection instead of through `Scope::begin` (which commits only with the change's audit event).
fn raw_region_access(code: &str) -> Vec<&'static str> {
    let flat: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let mut found = Vec::new();
    let mut rest = flat.as_str();
    while let Some(at) = rest.find(".regions()") {
        let before = &rest[..at];
        if !(before.ends_with("platform") || before.ends_with(".system()")) {
            found.push(".regions() without the platform capability");
        }
        rest = &rest[at + ".regions()".len()..];
    }
    if flat.contains("dbs.region(") {
        found.push("Databases::region");
    }
    if flat.contains(".databases()") {
        found.push("the raw databases() handle");
    }
    if flat.contains(".db().begin(") || flat.contains(".writer().begin(") {
        found.push("a region transaction that is not a `Work` (use `Scope::begin`)");
    }
    found
}

/// Raw region connections stay in `tenancy/` (and `db.rs`, which makes them): everything else reaches a tenant's data
/// through its `Scope` and reads across tenants through `Platform`. Two named exceptions, each outside any request.
#[test]
fn region_connections_stay_behind_the_doors() {
    const EXCEPTIONS: [(&str, &str); 2] = [
        (
            "audit.rs",
            "the operator's `steward audit` command, on the server's machine",
        ),
        (
            "http/mod.rs",
            "AppState::databases, for tests and operators' tooling",
        ),
    ];
    for (rel, file) in source_files() {
        if rel.starts_with("tenancy/")
            || rel == "db.rs"
            || rel == "layers.rs"
            || EXCEPTIONS.iter().any(|(f, _)| *f == rel)
        {
            continue;
        }
        let found = raw_region_access(&code(&std::fs::read_to_string(&file).unwrap()));
        assert!(
            found.is_empty(),
            "{rel} reaches a region's database directly: {found:?}"
        );
    }
}

#[test]
fn the_door_check_sees_raw_access() {
    assert_eq!(
        raw_region_access("for (_, db) in platform.regions() {}"),
        Vec::<&str>::new()
    );
    assert_eq!(
        raw_region_access("tenancy\n    .system()\n    .regions()"),
        Vec::<&str>::new()
    );
    assert_eq!(raw_region_access("tenancy.dbs.regions()").len(), 1);
    assert_eq!(
        raw_region_access("let db = dbs.region(&t.region);").len(),
        1
    );
    assert_eq!(raw_region_access("tenancy.databases().control()").len(), 1);
    assert_eq!(
        raw_region_access("let txn = scope\n .db()\n .begin().await?;").len(),
        1
    );
    assert_eq!(
        raw_region_access("let txn = scope.writer().begin().await?;").len(),
        1
    );
    assert_eq!(
        raw_region_access("let txn = scope.begin().await?;"),
        Vec::<&str>::new()
    );
}

/// How many tenant filters a piece of code writes by hand (`Column::TenantId.eq(`), whitespace ignored.
fn hand_tenant_filters(code: &str) -> usize {
    let flat: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    flat.matches("Column::TenantId.eq(").count()
}

/// The tenant filter comes from the doors (`Scope::find`, `Work::find`, `Scope::find_control`, ...), which take it
/// from the scope itself. The few filters still written by hand are listed here with the reason each cannot use a
/// door; a new one fails this test until it goes through a door or is added here with its reason.
#[test]
fn tenant_filters_come_from_the_doors() {
    const ALLOWED: [(&str, usize, &str); 6] = [
        (
            "audit.rs",
            5,
            "the chain itself (append, walk, link, head): audit is a layer below tenancy, handed the tenant id by a Work, a Scope or the operator's `steward audit` command",
        ),
        (
            "db.rs",
            2,
            "at start, before any scope exists: one stored subject key of a tenant whose keys are derived (in the region database of an older version, or the subject-key database), to check a key root against the data before storing it",
        ),
        (
            "subjects/page.rs",
            2,
            "sub-queries inside a scoped query (sea-query expressions, not a Select a door can make)",
        ),
        (
            "grants/mod.rs",
            1,
            "a compare-and-set update of one grant (`update(model)` plus a status filter), run in the tenant's Work",
        ),
        (
            "accountability/mod.rs",
            1,
            "the platform's list of legal demands, optionally narrowed to one tenant (legal staff, no tenant scope)",
        ),
        (
            "registry/objections.rs",
            1,
            "the platform's list of objections, optionally narrowed to one tenant (legal staff, no tenant scope)",
        ),
    ];
    let mut total = 0;
    for (rel, file) in source_files() {
        if rel.starts_with("tenancy/") || rel == "layers.rs" {
            continue;
        }
        let found = hand_tenant_filters(&code(&std::fs::read_to_string(&file).unwrap()));
        total += found;
        let allowed = ALLOWED
            .iter()
            .find(|(f, _, _)| *f == rel)
            .map_or(0, |(_, n, _)| *n);
        assert!(
            found <= allowed,
            "{rel} writes {found} tenant filter(s) by hand (allowed: {allowed}); use the tenant's door \
             (`scope.find()`, `work.find()`, `scope.find_control()`)"
        );
    }
    assert_eq!(
        total,
        ALLOWED.iter().map(|(_, n, _)| n).sum::<usize>(),
        "a listed exception went away: lower its count here"
    );
}

#[test]
fn the_filter_count_sees_hand_filters() {
    assert_eq!(
        hand_tenant_filters("x.filter(grant::Column::TenantId\n    .eq(t.0))"),
        1
    );
    assert_eq!(hand_tenant_filters("scope.find::<grant::Entity>()"), 0);
}

/// The checks above would catch what they claim: a made-up graph with a cycle is found, and `use` groups are read.
#[test]
fn the_checks_see_cycles_and_groups() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.insert("a".into(), ["b".into()].into());
    edges.insert("b".into(), ["c".into()].into());
    edges.insert("c".into(), ["a".into()].into());
    assert_eq!(
        cycle_from(&edges, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    edges.insert("c".into(), BTreeSet::new());
    assert_eq!(cycle_from(&edges, "a"), None);
    let found = imports(&code(
        "use crate::{audit::{self, AuditEntry}, tenancy};\n// crate::http\nlet x = crate::jobs::run();\n",
    ));
    assert_eq!(
        found,
        ["audit", "jobs", "tenancy"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
