//! Per-input fuzz logic for the daemon's parsers (TOML config, duo_unix INI, Duo preauth JSON),
//! shared by the cargo-fuzz targets and `daemon/tests/corpus.rs` (which includes this file with
//! `#[path]`), so a corpus file replayed under `cargo test` runs exactly what the fuzzer ran.

use std::path::Path;

use duo_authd::config::Config;
use duo_authd::duo::preauth::{self, Choice, FactorKind, Preauth};
use duo_authd::ini;
use duo_authd::secret::Secret;

/// Target `config_toml`: any text must parse to a config or a typed error, and the config's Debug must not depend on the skey.
pub fn fuzz_config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_config_text(text, Path::new("fuzz.toml"));
}

/// Parse `text` as the daemon's config; on success check that no secret shows in `Debug` or warnings.
fn check_config_text(text: &str, path: &Path) {
    match Config::from_toml_text(text, path) {
        Ok(config) => {
            let mut other = config.clone();
            other.skey = Secret::new(format!("{}-changed", config.skey.expose()));
            other.http_proxy = config
                .http_proxy
                .as_ref()
                .map(|p| p.with_password("changed-password"));
            assert_eq!(
                format!("{config:?}"),
                format!("{other:?}"),
                "a secret shows in the config's Debug output"
            );
            assert_eq!(
                config.warnings(),
                other.warnings(),
                "a secret shows in a config warning"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Target `config_ini`: any text must convert or fail with a line-numbered error; what
/// `import-conf` prints for a converted file must be TOML holding the same keys.
pub fn fuzz_config_ini(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let converted = match ini::convert(text) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let rendered = ini::to_toml_text("fuzz.conf", &converted);
    let back: toml::Table = match toml::from_str(&rendered) {
        Ok(t) => t,
        Err(e) => panic!("import-conf output is not TOML ({e}):\n{rendered}"),
    };
    for (key, value) in &converted.table {
        assert_eq!(back.get(key), Some(value), "import-conf changed '{key}'");
    }
    check_config_text(&rendered, Path::new("fuzz-imported.toml"));
}

/// Answers a user might type at the menu, besides the menu's own keys.
const ANSWERS: &[&str] = &[
    "",
    "1",
    "2",
    "3",
    "4",
    "9",
    "0",
    "default",
    "push1",
    "phone1",
    "sms1",
    "123456",
    "1234567890",
    " 1",
    "1\n",
    "\u{1b}[2J",
    "é",
];

/// Target `preauth_json`: any JSON must parse to a decision or a typed error; for a menu,
/// every answer must resolve, and a passcode must never appear in a log label.
pub fn fuzz_preauth(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    check_preauth(&value);
    // Seeds are whole Duo replies ({"stat":"OK","response":{...}}): also parse the member the daemon parses.
    if let Some(inner) = value.get("response") {
        check_preauth(inner);
    }
}

fn check_preauth(value: &serde_json::Value) {
    let menu = match preauth::parse(value, "user") {
        Ok(Preauth::Auth { menu, .. }) => menu,
        Ok(_) => return,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    check_choice(&menu.default);
    for (key, choice) in &menu.options {
        assert_eq!(
            &menu.resolve(key),
            choice,
            "menu key '{key}' does not resolve to its option"
        );
        check_choice(choice);
    }
    for answer in ANSWERS {
        let choice = menu.resolve(answer);
        check_choice(&choice);
        let is_passcode = !answer.is_empty() && answer.bytes().all(|b| b.is_ascii_digit());
        if is_passcode && menu.option(answer).is_none() {
            assert_eq!(
                choice.kind(),
                FactorKind::Passcode,
                "passcode {answer} is not treated as one"
            );
            assert_eq!(choice.label(), "passcode", "a passcode reached a log label");
        }
    }
}

fn check_choice(choice: &Choice) {
    let params = choice.params();
    assert_eq!(params.first().map(|(k, _)| k.as_str()), Some("factor"));
    let label = choice.label();
    // Same rule as `sanitize`: newline and tab are the only control characters let through.
    assert!(
        !label
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "control character in label {label:?}"
    );
    let _ = choice.auto_message();
}
