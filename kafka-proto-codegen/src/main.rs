//! Generates `kafka-proto/src/messages/` from Kafka's JSON message schemas.
//!
//! Usage: `kafka-proto-codegen [--check] [--out OUT_DIR] [SCHEMA_ROOT...]`
//!
//! Each `SCHEMA_ROOT` holds one subdirectory per Kafka release (e.g.
//! `4.3/`, `3.9/`); for each message version the newest release defining it
//! wins, whichever root it sits in. Without arguments the roots are
//! `$KAFKA_SCHEMAS` (a list separated like `PATH`), else two beside the
//! workspace: `../shared/kafka-schemas` (the older releases) and
//! `target/kafka/schemas` (the pinned broker's release, extracted from its
//! `kafka-clients` jar by `scripts/kafka-schemas.sh`). A missing root is an
//! error rather than a skip: leaving a release out would silently change
//! the generated code. `OUT_DIR` defaults to `kafka-proto/src/messages`.
//! With `--check`, nothing is written and the exit status says whether the
//! committed files match what would be generated.

mod emit;
mod merge;
mod schema;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

fn release_key(name: &str) -> Vec<u32> {
    name.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn rustfmt(src: &str) -> String {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running rustfmt");
    let mut stdin = child.stdin.take().expect("rustfmt stdin");
    let input = src.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("rustfmt output");
    writer
        .join()
        .expect("writer thread")
        .expect("writing to rustfmt");
    assert!(out.status.success(), "rustfmt failed on generated code");
    String::from_utf8(out.stdout).expect("rustfmt output is UTF-8")
}

/// The schema roots to read, in the order given.
fn schema_roots(args: &[String], root: &Path) -> Vec<PathBuf> {
    if !args.is_empty() {
        return args.iter().map(PathBuf::from).collect();
    }
    if let Some(list) = std::env::var_os("KAFKA_SCHEMAS") {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    vec![
        root.join("../shared/kafka-schemas"),
        root.join("target/kafka/schemas"),
    ]
}

/// Every release directory under the roots, newest first. The same release
/// under two roots is refused: which copy wins would be an accident.
fn releases(roots: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in roots {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!(
                "schema root {}: {e}\n\
                 (the newest release's schemas come from the kafka-clients jar: run \
                 scripts/install-kafka.sh, then scripts/kafka-schemas.sh)",
                dir.display()
            )
        })?;
        for e in entries.filter_map(|e| e.ok()) {
            if !e.path().is_dir() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((_, other)) = found.iter().find(|(r, _)| *r == name) {
                return Err(format!(
                    "release {name} is in two schema roots: {} and {}",
                    other.display(),
                    e.path().display()
                ));
            }
            found.push((name, e.path()));
        }
    }
    if found.is_empty() {
        return Err(format!("no release directories under {roots:?}"));
    }
    found.sort_by_key(|(r, _)| std::cmp::Reverse(release_key(r)));
    Ok(found)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = if let Some(i) = args.iter().position(|a| a == "--check") {
        args.remove(i);
        true
    } else {
        false
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = match args.iter().position(|a| a == "--out") {
        Some(i) if i + 1 < args.len() => {
            args.remove(i);
            PathBuf::from(args.remove(i))
        }
        Some(_) => {
            eprintln!("--out needs a directory");
            return ExitCode::FAILURE;
        }
        None => root.join("kafka-proto/src/messages"),
    };
    let releases = match releases(&schema_roots(&args, &root)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "releases, newest first: {}",
        releases
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let trees: Vec<(String, Vec<schema::Schema>)> = releases
        .iter()
        .map(|(r, dir)| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .expect("release dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            (r.clone(), files.iter().map(|p| schema::load(p)).collect())
        })
        .collect();
    let grouped = merge::group(&trees);
    let msgs: Vec<merge::MMessage> = grouped.values().map(|t| merge::merge(t)).collect();

    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for m in &msgs {
        files.insert(
            format!("{}.rs", emit::module_name(m)),
            rustfmt(&emit::emit_module(m)),
        );
    }
    files.insert("mod.rs".into(), rustfmt(&emit::emit_mod(&msgs)));

    let existing: Vec<String> = std::fs::read_dir(&out_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rs"))
                .collect()
        })
        .unwrap_or_default();
    if check {
        let mut stale = 0;
        for (name, content) in &files {
            if std::fs::read_to_string(out_dir.join(name)).ok().as_deref() != Some(content.as_str())
            {
                eprintln!("differs: {name}");
                stale += 1;
            }
        }
        for name in existing.iter().filter(|n| !files.contains_key(*n)) {
            eprintln!("not generated: {name}");
            stale += 1;
        }
        if stale > 0 {
            eprintln!(
                "{stale} generated file(s) out of date; run `cargo run -p kafka-proto-codegen`"
            );
            return ExitCode::FAILURE;
        }
        println!("generated code is up to date ({} files)", files.len());
        return ExitCode::SUCCESS;
    }
    std::fs::create_dir_all(&out_dir).expect("creating output dir");
    for name in existing.iter().filter(|n| !files.contains_key(*n)) {
        std::fs::remove_file(out_dir.join(name)).expect("removing stale file");
    }
    for (name, content) in &files {
        std::fs::write(out_dir.join(name), content).expect("writing generated file");
    }
    let pairs: u32 = msgs
        .iter()
        .filter(|m| m.kind == schema::Kind::Request)
        .map(|m| m.valid.count())
        .sum();
    println!(
        "wrote {} files ({} messages, {pairs} request versions)",
        files.len(),
        msgs.len()
    );
    ExitCode::SUCCESS
}
