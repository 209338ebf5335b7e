//! Fuzz target `messages`: Structured messages must round-trip through encode/read_frame or be TooLarge (logic in `src/proto_glue.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| duo_authd_fuzz::proto_glue::fuzz_messages(data));
