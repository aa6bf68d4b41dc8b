//! One expansion: parse the item and the arguments, validate, classify the function's shape,
//! generate. Every error found before generation is reported, together with the others.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{self, Kind};
use crate::error::combine;
use crate::item::{Block, Body, ItemFn, NotAFunction};
use crate::{generate, shape};

/// Expands one attribute. On any error the original item is emitted unchanged next to the
/// error, so the mistake does not cascade into errors at every call site.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(kind, args, item.clone()) {
        Ok(out) => out,
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item);
            out
        }
    }
}

fn try_expand(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func = ItemFn::parse(item).map_err(|NotAFunction(span)| {
        let msg = format!("{} can only be applied to a function", kind.attr_name());
        syn::Error::new(span, msg)
    })?;
    let args = attr::parse(kind, args);
    let block = validate(kind, &func);
    let future = args.as_ref().ok().and_then(|a| a.future);
    let shape = shape::classify(&func.sig, future);
    combine(
        [
            args.as_ref().err(),
            block.as_ref().err(),
            shape.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned(),
    )?;
    let (args, block, shape) = (args?, block?, shape?);
    if let (Some(outcome), shape::Shape::Never) = (&args.outcome, &shape) {
        return Err(syn::Error::new_spanned(
            outcome,
            "`outcome` has nothing to classify: the function never returns",
        ));
    }
    let new_body = generate::body(kind, &args, &func.sig, &shape, block);
    let ItemFn {
        attrs, vis, sig, ..
    } = &func;
    let mut out = quote!(#(#attrs)* #vis #sig);
    block.brace.surround(&mut out, |out| out.extend(new_body));
    Ok(out)
}

/// The function's body, when the function can be tracked.
fn validate(kind: Kind, func: &ItemFn) -> syn::Result<&Block> {
    let const_fn = func.sig.constness.as_ref().map(|constness| {
        let msg = format!(
            "{} cannot be applied to a `const fn`: a constant context cannot record events",
            kind.attr_name()
        );
        syn::Error::new(constness.span, msg)
    });
    let block = match &func.body {
        Body::Block(block) => Ok(block),
        Body::Semi(semi) => {
            let sig = &func.sig;
            let msg = format!(
                "{} needs a function body: put it on the method's implementation, \
                 not on its declaration",
                kind.attr_name()
            );
            Err(syn::Error::new_spanned(quote!(#sig #semi), msg))
        }
    };
    combine(const_fn.into_iter().chain(block.as_ref().err().cloned()))?;
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(kind: Kind, args: &str, item: &str) -> String {
        expand(kind, args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn body_appears_once_and_signature_is_kept() {
        let out = expand_str(
            Kind::Tool,
            "session = self.id, agent = \"a\"",
            "/// Doc.\n#[inline] pub fn f(&self, x: u32) -> Result<impl Display, E> \
             { #![allow(unused)] unique_body_marker(x) }",
        );
        assert_eq!(out.matches("unique_body_marker").count(), 1, "{out}");
        assert!(
            out.starts_with("# [doc = \" Doc.\"] # [inline] pub fn f (& self , x : u32) -> Result < impl Display , E > { # ! [allow (unused)]"),
            "{out}"
        );
        // `impl Trait` is erased where the body's type is spelled.
        assert!(out.contains("body :: < Result < _ , E > , _ >"), "{out}");
        assert!(out.contains("session_id (self . id)"), "{out}");
    }

    #[test]
    fn async_bodies_are_awaited_and_boxed_futures_wrapped() {
        let out = expand_str(Kind::Command, "", "async fn f() -> u8 { 1 }");
        assert!(
            out.contains("typed :: < u8 , _ > (:: cli_telemetry :: __private :: frame_of (& __telemetry_guard) , async move { 1 }) . await"),
            "{out}"
        );
        for ret in [
            "Pin<Box<dyn Future<Output = u8> + Send + 'a>>",
            "futures::future::BoxFuture<'a, u8>",
        ] {
            let out = expand_str(
                Kind::Command,
                "",
                &format!("fn f<'a>(&'a self) -> {ret} {{ Box::pin(async move {{ 1 }}) }}"),
            );
            assert!(out.contains("__private :: BoxedFuture :: tracked"), "{out}");
        }
        let out = expand_str(Kind::Command, "", "fn f() -> Pin<Box<u8>> { todo!() }");
        assert!(!out.contains("BoxedFuture"), "{out}");
        let out = expand_str(Kind::Command, "future", "fn f() -> Job { todo!() }");
        assert!(out.contains("__private :: BoxedFuture :: tracked"), "{out}");
    }

    #[test]
    fn an_outcome_function_replaces_the_type_dispatch() {
        let out = expand_str(Kind::Tool, "outcome = my_outcome", "fn f() -> u8 { 1 }");
        assert!(out.contains("outcome_with (my_outcome ,"), "{out}");
        assert!(!out.contains("Probe"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand_str(Kind::Session, "", "fn f() {}");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with("fn f () { }"), "{out}");
        let out = expand_str(Kind::Command, "", "struct S;");
        assert!(out.contains("can only be applied to a function"), "{out}");
        assert!(out.ends_with("struct S ;"), "{out}");
        let out = expand_str(Kind::Command, "future, outcome = f", "const fn f() {}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }
}
