//! Replays the fuzz corpora of the `config_toml`, `config_ini` and `preauth_json` targets on
//! every `cargo test`, through the same per-input functions the fuzzer runs
//! (`fuzz/src/daemon_glue.rs`).
// An integration test crate: a failure should stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../fuzz/src/daemon_glue.rs"]
mod daemon_glue;

use std::fs;
use std::path::{Path, PathBuf};

/// Every regular file of `fuzz/corpus/<target>`, sorted, with its contents.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn config_toml_corpus_replays_without_panic() {
    for (path, data) in corpus("config_toml") {
        eprintln!("config_toml: {}", path.display());
        daemon_glue::fuzz_config_toml(&data);
    }
}

#[test]
fn config_ini_corpus_replays_without_panic() {
    for (path, data) in corpus("config_ini") {
        eprintln!("config_ini: {}", path.display());
        daemon_glue::fuzz_config_ini(&data);
    }
}

#[test]
fn preauth_json_corpus_replays_without_panic() {
    for (path, data) in corpus("preauth_json") {
        eprintln!("preauth_json: {}", path.display());
        daemon_glue::fuzz_preauth(&data);
    }
}

#[test]
fn seeds_reach_the_interesting_paths() {
    // A corpus of nothing but parse errors would replay green and test nothing.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let valid = fs::read_to_string(dir.join("config_toml/valid_full.toml")).unwrap();
    assert!(
        duo_authd::config::Config::from_toml_text(&valid, Path::new("valid_full.toml")).is_ok()
    );
    let ini = fs::read_to_string(dir.join("config_ini/login_duo.conf")).unwrap();
    assert!(duo_authd::ini::convert(&ini).is_ok());
    for (file, want_auth) in [
        ("auth_prompt.json", true),
        ("auth_devices.json", true),
        ("allow.json", false),
    ] {
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("preauth_json").join(file)).unwrap())
                .unwrap();
        let p = duo_authd::duo::preauth::parse(&v["response"], "alice").unwrap();
        assert_eq!(
            matches!(p, duo_authd::duo::preauth::Preauth::Auth { .. }),
            want_auth,
            "{file}"
        );
    }
}
