//! Fuzz target `config_toml`: The daemon's TOML config parser and validator (logic in `src/daemon_glue.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| duo_authd_fuzz::daemon_glue::fuzz_config_toml(data));
