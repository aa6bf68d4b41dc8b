//! gzip (RFC 1952) for request bodies, through `flate2`'s pure-Rust backend.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// `body` compressed with gzip at the default level (6, as zlib and Go's `gzip` default).
/// `None` only if the encoder fails, which writing to memory does not: the caller then
/// sends the body uncompressed.
pub(crate) fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        Compression::default(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}
