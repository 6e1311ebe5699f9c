//! cargo-fuzz target: see `../entry/session.rs`, whose `run` it calls on every input.
#![no_main]

#[path = "../entry/session.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
