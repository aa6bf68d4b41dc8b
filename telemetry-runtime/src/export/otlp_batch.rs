//! The batch loop every OTLP signal shares: records go into one request, one item each, until
//! the next would take the request over its limit. Logs and traces also share the nesting
//! around their items (one resource, one scope); metrics write a scope per record.
//!
//! Invariants:
//! - A request never holds more than its limit of bytes, unless its first record alone is
//!   over it: that record is left out (`too_large`) and the request goes without it.
//! - An item whose writer returns `false` leaves nothing behind (truncated to where it began).
//! - `dropped` travels on the first item written, and only there.

use super::otlp_common::Pieces;
use super::otlp_wire::{Field, Wire};

/// How the records of a batch went into one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Written {
    /// Records written as items (`LogRecord`s, `Span`s, a record's metrics).
    pub(super) written: usize,
    /// Lines left out because they are not records of the signal.
    pub(super) skipped: usize,
    /// Records left out because one alone is over the limit.
    pub(super) too_large: usize,
    /// How many lines of the batch this request accounts for (written or left out): the
    /// rest did not fit under the limit and go in a later request.
    pub(super) taken: usize,
}

/// The three repeated fields around a signal's items: `resource_*`, `scope_*` and the items.
#[derive(Debug, Clone, Copy)]
pub(super) struct Nesting {
    pub(super) resource: Field,
    pub(super) scope: Field,
    pub(super) items: Field,
}

/// Writes `records` as the items of one resource and one scope (logs, traces): see
/// [`write_items`] for how the batch is cut.
pub(super) fn write_nested<W: Wire>(
    w: &mut W,
    pieces: &Pieces,
    nesting: Nesting,
    batch: Batch<'_>,
    write_item: impl FnMut(&mut W, &str, u64) -> bool,
) -> Written {
    let expected: usize = batch.records.iter().map(String::len).sum();
    w.list(nesting.resource);
    let resource = w.open_item(nesting.resource, expected);
    w.piece(&pieces.resource);
    w.list(nesting.scope);
    let scope = w.open_item(nesting.scope, expected);
    w.piece(&pieces.scope);
    w.list(nesting.items);
    let n = write_items(w, batch, write_item);
    w.end_list();
    w.close(scope);
    w.end_list();
    w.close(resource);
    w.end_list();
    n
}

/// A batch to write: its lines, the dropped count to carry, the request's limit in bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch<'a> {
    pub(super) records: &'a [String],
    pub(super) dropped: u64,
    pub(super) limit: usize,
}

/// Writes the lines of `batch` from the first through `write_item(w, line, dropped)`, which
/// returns `false` for a line that is not a record (what it wrote is then truncated), until
/// the next item would take `w` over the limit.
pub(super) fn write_items<W: Wire>(
    w: &mut W,
    batch: Batch<'_>,
    mut write_item: impl FnMut(&mut W, &str, u64) -> bool,
) -> Written {
    let mut n = Written::default();
    for line in batch.records {
        let mark = w.len();
        let carry = if n.written == 0 { batch.dropped } else { 0 };
        let ok = write_item(w, line, carry);
        let over = w.len() > batch.limit;
        if !ok || over {
            w.truncate(mark);
        }
        match (ok, over) {
            (false, _) => n.skipped += 1,
            (true, true) if n.written == 0 => n.too_large += 1,
            (true, true) => break,
            (true, false) => n.written += 1,
        }
        n.taken += 1;
    }
    n
}
