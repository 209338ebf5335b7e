//! Fuzz target `frame`: Frames and raw payloads from arbitrary bytes, both directions (logic in `src/proto_glue.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| duo_authd_fuzz::proto_glue::fuzz_frame(data));
