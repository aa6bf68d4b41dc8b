//! Compile-time behaviour of the macros: `ui/pass` must compile and run, `ui/fail` must fail
//! with exactly the committed `.stderr` (regenerate with `TRYBUILD=overwrite`, then review).
//!
//! The fail cases expect the macros' own messages, which do not depend on the compiler version,
//! except `dead_code.rs`, which pins rustc's `dead_code` lint text,
//! `outcome_not_a_function.rs`, which pins rustc's trait-bound error (to show that it points
//! at the user's expression), and `future_on_an_alias_of_no_future.rs`, which pins rustc's
//! rendering of the runtime's `BoxedFuture` bound (to show that it is the one error).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
