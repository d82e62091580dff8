//! The layers of `src/`, enforced: a module imports only its own layer and the
//! layers below it; the front doors (the JSON API, the web pages, the command line)
//! never import each other, and reach the layers between the domain and `app`
//! (records, pipeline, workflow) only through `app`. Reads the source files; no
//! server, no database.
//!
//! Every top-level module of `src/` must be in [`LAYERS`], so a new module is
//! classified when it is added.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers from the bottom up. A module may import modules of its own layer and of
/// the layers below; a front door ([`FRONT_DOORS`]) also never imports another one.
const LAYERS: &[(&str, &[&str])] = &[
    // Plain types and pure logic: no I/O of the service.
    ("domain", &["domain", "guidance", "rules", "sanctions"]),
    // Records and who may touch them: the database, the audit trail, authentication.
    ("records", &["db", "audit", "auth"]),
    // The analysis pipeline: query building, generation, one analysis (ranking is the
    // `reagent-retrieval` crate's, below the whole of `src/`).
    ("pipeline", &["query", "generation", "analysis"]),
    // Officer workflows over stored analyses.
    ("workflow", &["decision", "review", "feedback", "batch", "monitoring"]),
    // The use-cases: the only thing the front doors call.
    ("app", &["app"]),
    // The front doors, siblings.
    ("front door", &["api", "web"]),
    // The composition root: settings aggregated, start-up wiring, the merged router
    // and the binary's commands.
    ("wiring", &["config", "services", "server", "cli", "main"]),
];

/// The front doors, which must not import each other: the JSON API, the pages, and the
/// command line (in the top layer because `reagent serve` starts `server`'s merged
/// router, but it calls neither the API's nor the pages' code).
///
/// A front door imports `app`, the domain layer and its own modules, never the
/// records, pipeline or workflow modules: what it does goes through a use-case, and
/// the lower-layer types it names are re-exported by `app`. The command line also
/// imports the rest of the wiring layer (`config`, `services`, `server`): it is the
/// binary's composition root, which loads the configuration, starts the services and
/// serves.
const FRONT_DOORS: &[&str] = &["api", "web", "cli"];

/// The layer a front door may import besides `app` and its own modules.
const DOMAIN: &str = "domain";

/// Imports that break the layering today, each with the change that removes it. The
/// test fails when one of them is gone, so the list only shrinks.
///
/// `reagent eval` wires the eval crate to the pipeline it measures: analyses that are
/// neither stored nor audited, which no use-case of `app` is.
const KNOWN: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// One import that breaks the layering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
    why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: `{}` imports `{}`: {}", self.file, self.line, self.from, self.to, self.why)
    }
}

/// The top-level module a file under `src/` belongs to, and how deep the file's own
/// module is (`src/a.rs`, `src/a/mod.rs`: 1; `src/a/b.rs`: 2). `None` for `lib.rs`.
fn module_of(relative: &str) -> Option<(String, usize)> {
    let path = relative.strip_prefix("src/")?;
    if path == "lib.rs" {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    let last = parts[parts.len() - 1];
    let depth = if last == "mod.rs" || parts.len() == 1 { parts.len().max(2) - 1 } else { parts.len() };
    Some((top, depth))
}

/// `source` with comments removed and the contents of string and character literals
/// blanked (newlines kept, so offsets still give line numbers).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(chars.get(i.wrapping_sub(1)).copied()) {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            for _ in i..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{..}'
            out.push(' ');
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push_str("  ");
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The identifier starting at `at` (after spaces), and where it ends.
fn ident_at(chars: &[char], mut at: usize) -> (String, usize) {
    while chars.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    let start = at;
    while ident_char(chars.get(at).copied()) {
        at += 1;
    }
    (chars[start..at].iter().collect(), at)
}

/// The first segment of each item of the `{…}` group opening at `at`.
fn group_heads(chars: &[char], at: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    let mut i = at;
    while i < chars.len() {
        match chars[i] {
            '{' => {
                depth += 1;
                expect = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect = true,
            c if expect && depth == 1 && (c.is_alphabetic() || c == '_') => {
                let (name, end) = ident_at(chars, i);
                heads.push(name);
                expect = false;
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// The top-level modules `source` (the file `relative`, e.g. `src/api/mod.rs`) names,
/// with their line: `crate::X`, `reagent::X`, and `super::…` paths that climb out of
/// the file's top-level module.
fn imports(relative: &str, source: &str) -> Vec<(usize, String)> {
    let Some((_, depth)) = module_of(relative) else { return Vec::new() };
    let code = code_only(source);
    let chars: Vec<char> = code.chars().collect();
    let line_at = |at: usize| chars[..at].iter().filter(|c| **c == '\n').count() + 1;
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) add a level that `super` climbs first.
    let mut inline_modules: Vec<i64> = Vec::new();
    let mut braces: i64 = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            braces += 1;
        } else if c == '}' {
            braces -= 1;
            if inline_modules.last() == Some(&braces) {
                inline_modules.pop();
            }
        }
        let starts_word = !ident_char(chars.get(i.wrapping_sub(1)).copied()) && chars.get(i.wrapping_sub(1)) != Some(&'$');
        if !starts_word || !(c.is_alphabetic() || c == '_') {
            i += 1;
            continue;
        }
        let (word, end) = ident_at(&chars, i);
        let path_follows = |at: usize| chars.get(at) == Some(&':') && chars.get(at + 1) == Some(&':');
        match word.as_str() {
            "mod" => {
                let (_, after_name) = ident_at(&chars, end);
                let mut j = after_name;
                while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                    j += 1;
                }
                if chars.get(j) == Some(&'{') {
                    inline_modules.push(braces);
                }
            }
            "crate" | "reagent" | "super" if path_follows(end) => {
                let mut at = end + 2;
                if word == "super" {
                    let mut climbs = 1;
                    loop {
                        let (next, next_end) = ident_at(&chars, at);
                        if next == "super" && path_follows(next_end) {
                            climbs += 1;
                            at = next_end + 2;
                        } else {
                            break;
                        }
                    }
                    if climbs < depth + inline_modules.len() {
                        i = at;
                        continue;
                    }
                }
                let line = line_at(i);
                let mut k = at;
                while chars.get(k).is_some_and(|c| c.is_whitespace()) {
                    k += 1;
                }
                if chars.get(k) == Some(&'{') {
                    for head in group_heads(&chars, k) {
                        if !matches!(head.as_str(), "self" | "super") {
                            found.push((line, head));
                        }
                    }
                } else {
                    let (head, _) = ident_at(&chars, at);
                    if !head.is_empty() && head != "self" {
                        found.push((line, head));
                    }
                }
                i = at;
                continue;
            }
            _ => {}
        }
        i = end;
    }
    found
}

/// The imports of the file `relative` that break the layering.
fn check(relative: &str, source: &str) -> Vec<Violation> {
    let Some((from, _)) = module_of(relative) else { return Vec::new() };
    let Some(from_layer) = layer_of(&from) else {
        return vec![Violation {
            file: relative.into(),
            line: 1,
            from: from.clone(),
            to: from,
            why: "this top-level module is in no layer: add it to LAYERS in tests/layering.rs".into(),
        }];
    };
    let mut found = BTreeSet::new();
    for (line, to) in imports(relative, source) {
        if to == from {
            continue;
        }
        let why = match layer_of(&to) {
            // Not a module of ours (a macro's `crate::` path, an item of lib.rs).
            None => continue,
            Some(to_layer) if to_layer > from_layer => {
                format!("the {} layer may not import the higher {} layer", LAYERS[from_layer].0, LAYERS[to_layer].0)
            }
            Some(_) if FRONT_DOORS.contains(&from.as_str()) && FRONT_DOORS.contains(&to.as_str()) => {
                "a front door may not import another front door; move what they share into app".to_string()
            }
            Some(to_layer)
                if FRONT_DOORS.contains(&from.as_str())
                    && LAYERS[to_layer].0 != DOMAIN
                    && layer_of("app").is_some_and(|app| to_layer < app) =>
            {
                format!(
                    "a front door imports app, the domain and its own modules, not the {} layer: call a use-case of app (and name its types through app)",
                    LAYERS[to_layer].0
                )
            }
            Some(_) => continue,
        };
        found.insert(Violation { file: relative.into(), line, from: from.clone(), to, why });
    }
    found.into_iter().collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_its_layer_and_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut modules = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if let Some((module, _)) = module_of(&relative) {
            modules.insert(module);
        }
        let source = std::fs::read_to_string(path).unwrap();
        violations.extend(check(&relative, &source));
    }
    let mut known_used = BTreeSet::new();
    violations.retain(|v| match KNOWN.iter().position(|(file, to, _)| *file == v.file && *to == v.to) {
        Some(k) => {
            known_used.insert(k);
            false
        }
        None => true,
    });
    let mut problems: Vec<String> = violations.iter().map(ToString::to_string).collect();
    for (k, (file, to, why)) in KNOWN.iter().enumerate() {
        if !known_used.contains(&k) {
            problems.push(format!("{file} no longer imports `{to}` ({why}): remove it from KNOWN"));
        }
    }
    for (_, layer) in LAYERS {
        for module in *layer {
            if !modules.contains(*module) {
                problems.push(format!("LAYERS names `{module}`, which is no module of src/: remove it"));
            }
        }
    }
    assert!(problems.is_empty(), "the layering is broken:\n{}", problems.join("\n"));
}

#[test]
fn a_lower_layer_importing_a_higher_one_is_caught_with_its_line() {
    let source = "//! A domain module.\n\nuse std::sync::Arc;\nuse crate::rules::Finding;\n\nfn f() -> crate::api::ApiError { todo!() }\n";
    let found = check("src/domain.rs", source);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].to.as_str()), (6, "api"));
    assert!(found[0].to_string().starts_with("src/domain.rs:6: `domain` imports `api`"), "{}", found[0]);
}

#[test]
fn grouped_paths_super_climbs_and_sibling_front_doors_are_caught() {
    // `use crate::{…}` names each module of the group.
    let found = check("src/audit/mod.rs", "use crate::{db::Database,\n    analysis::Answer};\n");
    assert_eq!(found.iter().map(|v| (v.line, v.to.as_str())).collect::<Vec<_>>(), [(1, "analysis")]);
    let found = check("src/domain.rs", "use crate::{guidance::Citation,\n    analysis::Answer};\n");
    assert_eq!(found.iter().map(|v| (v.line, v.to.clone())).collect::<Vec<_>>(), vec![(1, "analysis".to_string())]);
    // `super::super::` out of src/web/review.rs is the crate root.
    let found = check("src/web/review.rs", "use super::WebError;\nuse super::super::api::ApiError;\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].to.as_str()), (2, "api"));
    assert!(found[0].why.contains("front door"), "{}", found[0]);
    // Inside an inline module, one more `super` stays inside the file's module.
    let found = check("src/api/mod.rs", "mod tests {\n    use super::*;\n    use super::super::web::X;\n}\n");
    assert_eq!(found.iter().map(|v| v.to.as_str()).collect::<Vec<_>>(), ["web"]);
    // Comments and strings are not imports; `reagent_ingest::` is another crate.
    let clean = "// see crate::api::limits\nconst S: &str = \"crate::web::x\";\nuse reagent_ingest::ChunkStore;\n/* crate::api */\n";
    assert!(check("src/domain.rs", clean).is_empty());
    // An unclassified module fails.
    let found = check("src/newthing.rs", "");
    assert!(found[0].why.contains("in no layer"), "{found:?}");
}

#[test]
fn front_doors_reach_the_middle_layers_only_through_app() {
    // app, the domain, its own modules: allowed.
    let fine = "use crate::app::{App, Principal};\nuse crate::domain::Money;\nuse crate::rules::ActionCode;\nuse crate::guidance::Analysis;\nuse super::view;\n";
    assert!(check("src/web/review.rs", fine).is_empty(), "{:?}", check("src/web/review.rs", fine));
    // The workflow, records and pipeline modules: caught, naming the layer.
    let found = check("src/web/review.rs", "use crate::review::queue;\nfn f(db: &crate::db::Database) {}\nuse crate::analysis::Answer;\n");
    let named: Vec<_> = found.iter().map(|v| (v.line, v.to.as_str())).collect();
    assert_eq!(named, [(1, "review"), (2, "db"), (3, "analysis")]);
    assert!(found[0].why.contains("not the workflow layer"), "{}", found[0]);
    assert!(found[1].why.contains("not the records layer"), "{}", found[1]);
    assert!(found[2].why.contains("not the pipeline layer"), "{}", found[2]);
    assert_eq!(check("src/api/mod.rs", "use crate::auth::Role;\n")[0].to, "auth");
    // The command line is the composition root: the wiring is its own layer.
    assert!(check("src/cli/serve.rs", "use reagent::config::Config;\nuse reagent::services::Services;\nuse reagent::server::serve;\n").is_empty());
    assert_eq!(check("src/cli/keys.rs", "use reagent::audit::AuditLog;\n")[0].to, "audit");
    // A module that is no front door still imports the layers below it.
    assert!(check("src/app/mod.rs", "use crate::review::queue;\nuse crate::db::Database;\n").is_empty());
}
