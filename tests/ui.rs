//! Compile-time behaviour of the macros: `ui/pass` must compile and run, `ui/fail` must fail
//! with exactly the committed `.stderr` (regenerate with `TRYBUILD=overwrite`, then review).
//!
//! The fail cases expect the macros' own messages, which do not depend on the compiler version,
//! except `dead_code.rs`, which pins rustc's `dead_code` lint text, and
//! `outcome_not_a_function.rs`, which pins rustc's trait-bound error (to show that it points
//! at the user's expression).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
