//! Generates Tauri's context (config, capabilities, embedded window files) at build time.

fn main() {
    tauri_build::build();
}
