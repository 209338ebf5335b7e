//! The per-input logic of every fuzz target, kept apart from libFuzzer so the normal test
//! suites (`proto/tests/corpus.rs`, `daemon/tests/corpus.rs`) can replay the corpus through it.
#![forbid(unsafe_code)]

pub mod daemon_glue;
pub mod proto_glue;
