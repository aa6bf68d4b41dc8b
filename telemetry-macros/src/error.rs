//! Errors of one expansion, reported together.

/// `Ok` when there is no error; otherwise all of them as one error, each keeping its span.
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> syn::Result<()> {
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            errors.for_each(|e| first.combine(e));
            Err(first)
        }
    }
}
