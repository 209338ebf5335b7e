//! Fuzz target `config_ini`: The duo_unix INI reader and the TOML that import-conf prints from it (logic in `src/daemon_glue.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| duo_authd_fuzz::daemon_glue::fuzz_config_ini(data));
