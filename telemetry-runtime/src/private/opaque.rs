//! The outcome of a value whose type the tracked function names only as a type parameter.
//!
//! Inside `fn f<T>(..) -> T` the autoref ladder of [`super`] sees `T`, never the `Result` it
//! is at a call, and no bound can be added to the user's signature. What std offers for any
//! `T` without a bound: [`std::any::type_name`] and [`std::mem::discriminant`]. A value is
//! taken for `Err` only when both agree: its type's name is `Result`'s (as std spells it for
//! `Result<(), ()>` in this build) and its discriminant hashes as `Err(())`'s does (variants'
//! discriminants are the enum's, whatever its parameters). Anything else, including a future
//! compiler spelling type names otherwise, is a success, as it was without this check. The
//! error text names the error's type, as for an `Err` without `Display`.

use std::hash::{Hash, Hasher};
use std::mem::discriminant;

use crate::outcome::Outcome;

/// A failure if `value` is an `Err` of a `Result`, else a success.
pub(super) fn outcome<T>(value: &T) -> Outcome {
    let name = std::any::type_name::<T>();
    if !name.starts_with(result_prefix()) {
        return Outcome::Success;
    }
    let is_err = bytes_of(discriminant(value)) == bytes_of(discriminant(&Err::<(), ()>(())))
        && bytes_of(discriminant(&Ok::<(), ()>(()))) != bytes_of(discriminant(&Err::<(), ()>(())));
    if is_err {
        Outcome::Failure(format!("Err({})", error_type(name).unwrap_or("?")))
    } else {
        Outcome::Success
    }
}

/// `core::result::Result<` (or however this build's std spells it).
fn result_prefix() -> &'static str {
    let name = std::any::type_name::<Result<(), ()>>();
    name.find('<').map_or(name, |i| &name[..=i])
}

/// The bytes a value's `Hash` writes: enough to compare two discriminants of different types.
fn bytes_of<H: Hash>(h: H) -> Vec<u8> {
    #[derive(Default)]
    struct Bytes(Vec<u8>);
    impl Hasher for Bytes {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }
    let mut bytes = Bytes::default();
    h.hash(&mut bytes);
    bytes.0
}

/// `E` of `path::Result<T, E>`: the last argument at the top level of the outer brackets.
fn error_type(name: &str) -> Option<&str> {
    let inner = name.get(name.find('<')? + 1..name.len().checked_sub(1)?)?;
    let mut depth = 0_i32;
    let mut split = None;
    let mut prev = ' ';
    for (i, c) in inner.char_indices() {
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' if prev == '-' => {} // `fn(..) -> T`
            '>' | ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => split = Some(i),
            _ => {}
        }
        prev = c;
    }
    Some(inner[split? + 1..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_is_the_last_top_level_argument() {
        assert_eq!(
            error_type("core::result::Result<(), alloc::string::String>"),
            Some("alloc::string::String")
        );
        assert_eq!(
            error_type("core::result::Result<fn(u8, u8) -> u8, x::E<a::B, c::D>>"),
            Some("x::E<a::B, c::D>")
        );
        assert_eq!(error_type("core::result::Result<u8>"), None);
        assert_eq!(error_type("u8"), None);
    }

    #[test]
    fn only_err_of_a_result_fails() {
        assert_eq!(
            outcome(&Err::<u8, std::io::Error>(std::io::Error::other("x"))),
            Outcome::failure("Err(std::io::error::Error)")
        );
        assert_eq!(outcome(&Ok::<u8, ()>(1)), Outcome::Success);
        // An enum of the same shape that is not std's `Result`.
        enum Result2 {
            _Ok,
            Err,
        }
        assert_eq!(outcome(&Result2::Err), Outcome::Success);
        assert_eq!(outcome(&Some(1)), Outcome::Success);
    }
}
