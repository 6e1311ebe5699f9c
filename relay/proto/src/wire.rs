//! Names and sizes both ends of a tunnel must agree on, beyond the frames themselves.

/// Request header in which the relay passes each HTTP exchange's visitor address to the
/// agent. The relay overwrites whatever a visitor sent under this name.
pub const VISITOR_HEADER: &str = "x-fdt-visitor";

/// Response header naming the error code of a page FDT generated (relay or agent), as
/// opposed to a response from the user's service. The relay strips it from upstream
/// responses it did not make, so a service cannot pose as the edge.
pub const ERROR_HEADER: &str = "x-fdt-error";

/// Bytes per copy buffer between a socket and a QUIC stream, on both ends. Larger than
/// tokio's 8 KiB default so bulk transfers make fewer, bigger QUIC writes.
pub const COPY_BUF: usize = 64 * 1024;
