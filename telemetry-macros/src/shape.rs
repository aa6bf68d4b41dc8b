//! The function's shape: how what it returns is timed and classified.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, ReturnType, Signature, Type, TypeParamBound};

/// How a tracked call returns. `ret` is the declared return type with every `impl Trait`
/// replaced by `_`, so the wrapped body can be given it (for inference of `?`, `.collect()`,
/// `.into()`) from inside the function.
pub(crate) enum Shape {
    /// `-> !`: only a panic ends the call.
    Never,
    /// `async fn`: the call ends when the body's future completes.
    Async { ret: TokenStream },
    /// `-> impl Future<..>`: the call ends when the returned future completes.
    ImplFuture { ret: TokenStream },
    /// `-> Pin<Box<dyn Future<..>>>`, under that spelling, a known alias or `future`: the call
    /// ends when the returned future completes, and the wrapper is boxed the same way.
    BoxedFuture { ret: TokenStream },
    /// Everything else: the call ends when the function returns.
    Sync { ret: TokenStream },
}

/// The names of boxed-future aliases recognised without `future`: those of `futures`,
/// `futures-util` and `futures-core`.
const BOXED_FUTURE_ALIASES: [&str; 2] = ["BoxFuture", "LocalBoxFuture"];

/// Classifies the signature; `future` is the span of the `future` flag, when given.
pub(crate) fn classify(sig: &Signature, future: Option<Span>) -> syn::Result<Shape> {
    let flag_error = |why: &str| {
        let span = future.unwrap_or_else(Span::call_site);
        Err(syn::Error::new(
            span,
            format!("`future` is for a function returning a boxed future; {why}"),
        ))
    };
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    if matches!(ty, Some(Type::Never(_))) {
        return match future {
            Some(_) => flag_error("this one never returns"),
            None => Ok(Shape::Never),
        };
    }
    let ret = ty.map_or_else(|| quote!(()), erase_impl_trait);
    if sig.asyncness.is_some() {
        return match future {
            Some(_) => flag_error("an `async fn` is timed across its awaits without it"),
            None => Ok(Shape::Async { ret }),
        };
    }
    let Some(ty) = ty else {
        return match future {
            Some(_) => flag_error("this one returns `()`"),
            None => Ok(Shape::Sync { ret }),
        };
    };
    if future.is_some() && is_no_future(ty) {
        let ty = spelled(ty);
        return flag_error(&format!("this one returns `{ty}`, which is not a future"));
    }
    Ok(if is_impl_future(ty) {
        Shape::ImplFuture { ret }
    } else if future.is_some() || is_boxed_future(ty) {
        Shape::BoxedFuture { ret }
    } else {
        Shape::Sync { ret }
    })
}

/// The names of types that are never futures, whatever path leads to them: the primitive
/// types and the standard library's most returned ones.
const NO_FUTURES: [&str; 21] = [
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64", "String", "Vec", "Option", "Result",
];

/// Whether `ty` is, by its spelling alone, no future: a tuple, array, slice, shared reference,
/// pointer or function pointer, an `impl Trait` without a `Future` bound, or a path ending in
/// one of [`NO_FUTURES`]. Anything else (an alias, a type of the user's) may be one.
fn is_no_future(ty: &Type) -> bool {
    match ty {
        Type::Tuple(_)
        | Type::Array(_)
        | Type::Slice(_)
        | Type::Ptr(_)
        | Type::FnPtr(_)
        | Type::Never(_) => true,
        Type::Reference(r) => r.mutability.is_none(),
        Type::ImplTrait(it) => !has_future_bound(it.bounds.iter()),
        Type::Paren(p) => is_no_future(&p.elem),
        Type::Group(g) => is_no_future(&g.elem),
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| NO_FUTURES.iter().any(|n| s.ident == n))
        }
        _ => false,
    }
}

/// `ty` as written in source, near enough for a message (`std::io::Result<String>`).
fn spelled(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
    ] {
        text = text.replace(from, to);
    }
    text.replace(" ,", ",").replace("& ", "&")
}

/// `ty` with every `impl Trait` replaced by `_`.
fn erase_impl_trait(ty: &Type) -> TokenStream {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(it) = ty {
                let span = syn::spanned::Spanned::span(it);
                *ty = Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](span),
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Erase.visit_type_mut(&mut ty);
    ty.into_token_stream()
}

/// `Pin<Box<dyn Future<..> + ..>>`, whatever the paths, or a path ending in a known alias.
fn is_boxed_future(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    if p.path
        .segments
        .last()
        .is_some_and(|s| BOXED_FUTURE_ALIASES.iter().any(|a| s.ident == a))
    {
        return true;
    }
    let boxed = single_arg(ty, "Pin").and_then(|pinned| single_arg(pinned, "Box"));
    matches!(boxed, Some(Type::TraitObject(obj)) if has_future_bound(obj.bounds.iter()))
}

/// `impl Future<..> + ..`.
fn is_impl_future(ty: &Type) -> bool {
    matches!(ty, Type::ImplTrait(it) if has_future_bound(it.bounds.iter()))
}

/// The one type argument of `Name<T>`, when `ty` is a path ending in `name`.
fn single_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

fn has_future_bound<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> bool {
    bounds.any(|b| {
        matches!(b, TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(sig: &str, future: bool) -> syn::Result<Shape> {
        let sig: Signature = syn::parse_str(sig).unwrap();
        classify(&sig, future.then(Span::call_site))
    }

    fn name(s: &syn::Result<Shape>) -> &'static str {
        match s {
            Ok(Shape::Never) => "never",
            Ok(Shape::Async { .. }) => "async",
            Ok(Shape::ImplFuture { .. }) => "impl future",
            Ok(Shape::BoxedFuture { .. }) => "boxed future",
            Ok(Shape::Sync { .. }) => "sync",
            Err(_) => "error",
        }
    }

    #[test]
    fn shapes() {
        for (sig, future, expected) in [
            ("fn f() -> !", false, "never"),
            ("async fn f() -> u8", false, "async"),
            ("async fn f()", false, "async"),
            (
                "fn f() -> impl Future<Output = u8> + Send",
                false,
                "impl future",
            ),
            (
                "fn f() -> Pin<Box<dyn Future<Output = u8>>>",
                false,
                "boxed future",
            ),
            (
                "fn f() -> std::pin::Pin<Box<dyn Send + core::future::Future<Output = u8>>>",
                false,
                "boxed future",
            ),
            (
                "fn f() -> futures::future::BoxFuture<'static, u8>",
                false,
                "boxed future",
            ),
            (
                "fn f<'a>() -> LocalBoxFuture<'a, u8>",
                false,
                "boxed future",
            ),
            ("fn f() -> MyFut<u8>", true, "boxed future"),
            ("fn f() -> u8", true, "error"),
            ("fn f() -> io::Result<()>", true, "error"),
            ("fn f() -> (u8, u8)", true, "error"),
            ("fn f() -> &'static str", true, "error"),
            ("fn f() -> impl Display", true, "error"),
            ("fn f() -> impl Future<Output = u8>", true, "impl future"),
            ("fn f() -> &mut MyFut", true, "boxed future"),
            ("fn f() -> MyFut<u8>", false, "sync"),
            ("fn f() -> Pin<Box<u8>>", false, "sync"),
            ("fn f() -> Result<impl Display, E>", false, "sync"),
            ("fn f()", false, "sync"),
            ("fn f()", true, "error"),
            ("fn f() -> !", true, "error"),
            ("async fn f() -> u8", true, "error"),
        ] {
            assert_eq!(
                name(&shape(sig, future)),
                expected,
                "{sig} (future: {future})"
            );
        }
    }

    #[test]
    fn types_are_spelled_as_written() {
        for ty in [
            "std::io::Result<String>",
            "&'static str",
            "(u8, Vec<u8>)",
            "::core::primitive::u8",
        ] {
            assert_eq!(spelled(&syn::parse_str(ty).unwrap()), ty);
        }
    }

    #[test]
    fn impl_trait_is_erased_in_the_return_type() {
        let Ok(Shape::Sync { ret }) = shape("fn f() -> Result<impl Display, E>", false) else {
            panic!("not sync");
        };
        assert_eq!(ret.to_string(), "Result < _ , E >");
    }
}
