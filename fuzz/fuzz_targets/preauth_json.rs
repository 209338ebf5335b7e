//! Fuzz target `preauth_json`: Duo preauth replies into menus, and menu answers into /auth parameters (logic in `src/daemon_glue.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| duo_authd_fuzz::daemon_glue::fuzz_preauth(data));
