//! Example agent runner (placeholder until the example issue lands).
fn main() {}
