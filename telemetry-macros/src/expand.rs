//! Code generation.
//!
//! The generated body, for a sync function (names shortened):
//!
//! ```text
//! fn f(params) -> R {
//!     #![inner attributes]
//!     let t = if let Some(s) = cli_telemetry::__private::start() { Some(<start tracker>) } else { None };
//!     let body = cli_telemetry::__private::body::<R', _>(move || { <original body> });
//!     match t {
//!         None => body(),
//!         Some(t) => cli_telemetry::__private::run(t, body, |ret| <classify ret>),
//!     }
//! }
//! ```
//!
//! Everything telemetry does once enabled happens in `run`, out of line: off, the function is a
//! check and a call of its body, small enough to be inlined where the bare function would be.
//!
//! `R'` is `R` with every `impl Trait` replaced by `_`. An `async fn` awaits
//! `typed::<R', _>(async move { <original body> })` instead. A function returning a boxed
//! future (what `#[async_trait]` makes of an `async fn`) or an `impl Future` wraps the returned
//! future so the duration covers the awaited work. The body appears once; when telemetry is off the cost is
//! one relaxed atomic load and a branch, with no clock read.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

use crate::attr::{self, Args, Kind};
use crate::item::{Body, ItemFn, NotAFunction};

/// Expands one attribute. On any error the original item is emitted unchanged next to the
/// error, so the mistake does not cascade into errors at every call site.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match ItemFn::parse(item.clone()) {
        Ok(f) => f,
        Err(NotAFunction(span)) => {
            let msg = format!("{} can only be applied to a function", kind.attr_name());
            return with_error(item, &syn::Error::new(span, msg));
        }
    };
    let mut errors = Vec::new();
    let args = attr::parse(kind, args).map_err(|e| errors.push(e)).ok();
    if let Some(constness) = &func.sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            format!(
                "{} cannot be applied to a `const fn`: a constant context cannot record events",
                kind.attr_name()
            ),
        ));
    }
    if let Body::Semi(semi) = &func.body {
        let sig = &func.sig;
        errors.push(syn::Error::new_spanned(
            quote!(#sig #semi),
            format!(
                "{} needs a function body: put it on the method's implementation, \
                 not on its declaration",
                kind.attr_name()
            ),
        ));
    }
    let mut errors = errors.into_iter();
    if let Some(mut first) = errors.next() {
        errors.for_each(|e| first.combine(e));
        return with_error(item, &first);
    }
    match (args, func.body) {
        (
            Some(args),
            Body::Block {
                brace,
                inner_attrs,
                stmts,
            },
        ) => {
            let ItemFn {
                attrs, vis, sig, ..
            } = func;
            let block = generate(kind, &args, &sig, &inner_attrs, stmts);
            let mut out = TokenStream::new();
            for a in &attrs {
                a.to_tokens(&mut out);
            }
            vis.to_tokens(&mut out);
            sig.to_tokens(&mut out);
            brace.surround(&mut out, |out| out.extend(block));
            out
        }
        _ => item,
    }
}

fn with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}

/// The new body (without its braces).
fn generate(
    kind: Kind,
    args: &Args,
    sig: &syn::Signature,
    inner_attrs: &[syn::Attribute],
    stmts: TokenStream,
) -> TokenStream {
    let k = args.krate();
    let p = quote!(#k::__private);
    let name = args.name.as_ref().map_or_else(
        || {
            let ident = syn::ext::IdentExt::unraw(&sig.ident).to_string();
            syn::LitStr::new(&ident, sig.ident.span())
        },
        Clone::clone,
    );
    let start = match kind {
        Kind::Command => {
            let list = args.args.as_ref().map_or_else(
                || quote!(::std::vec::Vec::new()),
                |e| quote_spanned!(span_of(e)=> #p::args(#e)),
            );
            quote!(command(#name, #list))
        }
        Kind::Tool => {
            let session = some(args.session.as_ref(), &quote!(#p::session_id));
            let agent = some(args.agent.as_ref(), &quote!(#p::agent_name));
            quote!(tool(#name, #session, #agent))
        }
        Kind::Session => {
            let agent = args.agent.as_ref().map_or_else(
                TokenStream::new,
                |e| quote_spanned!(span_of(e)=> #p::agent_name(#e)),
            );
            let id = some(args.id.as_ref(), &quote!(#p::session_id));
            quote!(session(#agent, #id))
        }
    };
    let guard = ident("__telemetry_guard");
    let ret = ident("__telemetry_ret");
    let outcome = quote! {{
        use #p::{ViaAnyResult as _, ViaDefault as _, ViaResult as _, ViaTrait as _};
        (&&&&#p::Probe(&#ret)).telemetry_outcome()
    }};
    let body = quote!({ #stmts });
    // Argument expressions run only once an enabled client was found.
    let start = quote! {
        if let ::core::option::Option::Some(#guard) = #p::start() {
            ::core::option::Option::Some(#guard.#start)
        } else {
            ::core::option::Option::None
        }
    };
    let prelude = quote! {
        #(#inner_attrs)*
        let #guard = #start;
    };
    let ret_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => {
            if matches!(**ty, Type::Never(_)) {
                // Never returns: the guard's drop records a panic; nothing else can happen.
                let live = ident("_telemetry_guard");
                return quote! {
                    #(#inner_attrs)*
                    let #live = #start;
                    #stmts
                };
            }
            let mut ty = (**ty).clone();
            EraseImplTrait.visit_type_mut(&mut ty);
            ty.into_token_stream()
        }
    };
    if sig.asyncness.is_some() {
        quote! {
            #prelude
            let #ret = #p::typed::<#ret_ty, _>(async move #body).await;
            if let ::core::option::Option::Some(#guard) = #guard {
                #guard.finish(#outcome);
            }
            #ret
        }
    } else if returns_impl_future(&sig.output) {
        // `fn f() -> impl Future<Output = T>`: return a future that awaits the body's and
        // records when it completes.
        quote! {
            #prelude
            let #ret = #p::once::<#ret_ty, _>(move || #body);
            async move {
                let #ret = #ret.await;
                if let ::core::option::Option::Some(#guard) = #guard {
                    #guard.finish(#outcome);
                }
                #ret
            }
        }
    } else if returns_boxed_future(&sig.output) {
        // `#[async_trait]` has turned `async fn` into a function returning
        // `Pin<Box<dyn Future<Output = T> + Send + '_>>`: time the future, not its creation.
        quote! {
            #prelude
            let #ret = #p::once::<#ret_ty, _>(move || #body);
            match #guard {
                ::core::option::Option::None => #ret,
                ::core::option::Option::Some(#guard) => ::std::boxed::Box::pin(async move {
                    let #ret = #ret.await;
                    #guard.finish(#outcome);
                    #ret
                }),
            }
        }
    } else {
        let run = ident("__telemetry_body");
        let outcome_of_ref = quote! {{
            use #p::{ViaAnyResult as _, ViaDefault as _, ViaResult as _, ViaTrait as _};
            (&&&&#p::Probe(#ret)).telemetry_outcome()
        }};
        quote! {
            #prelude
            let #run = #p::body::<#ret_ty, _>(move || #body);
            match #guard {
                ::core::option::Option::None => #run(),
                ::core::option::Option::Some(#guard) => {
                    #p::run(#guard, #run, |#ret| #outcome_of_ref)
                }
            }
        }
    }
}

/// A local of the generated code, invisible to the user's body (mixed-site hygiene).
fn ident(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// Where errors about a user expression should point.
fn span_of(e: &syn::Expr) -> Span {
    syn::spanned::Spanned::span(e)
}

/// `Some(convert(expr))` or `None`.
fn some(expr: Option<&syn::Expr>, convert: &TokenStream) -> TokenStream {
    match expr {
        Some(e) => quote_spanned!(span_of(e)=> ::core::option::Option::Some(#convert(#e))),
        None => quote!(::core::option::Option::None),
    }
}

/// `Pin<Box<dyn Future<..> + ..>>`, whatever the paths are spelled.
fn returns_boxed_future(output: &ReturnType) -> bool {
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
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Some(Type::TraitObject(obj)) =
        single_arg(ty, "Pin").and_then(|boxed| single_arg(boxed, "Box"))
    else {
        return false;
    };
    obj.bounds.iter().any(|b| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    })
}

/// `impl Future<..> + ..`.
fn returns_impl_future(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Type::ImplTrait(it) = &**ty else {
        return false;
    };
    it.bounds.iter().any(|b| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    })
}

/// Replaces `impl Trait` by `_` so the return type can be spelled inside the body.
struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            let underscore = syn::Token![_](syn::spanned::Spanned::span(it));
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: underscore,
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
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
            out.contains("typed :: < u8 , _ > (async move { 1 }) . await"),
            "{out}"
        );
        let out = expand_str(
            Kind::Command,
            "",
            "fn f<'a>(&'a self) -> Pin<Box<dyn Future<Output = u8> + Send + 'a>> \
             { Box::pin(async move { 1 }) }",
        );
        assert!(
            out.contains(":: std :: boxed :: Box :: pin (async move"),
            "{out}"
        );
        let out = expand_str(Kind::Command, "", "fn f() -> Pin<Box<u8>> { todo!() }");
        assert!(!out.contains(":: std :: boxed :: Box :: pin"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = expand_str(Kind::Session, "", "fn f() {}");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with("fn f () { }"), "{out}");
        let out = expand_str(Kind::Command, "", "struct S;");
        assert!(out.contains("can only be applied to a function"), "{out}");
        assert!(out.ends_with("struct S ;"), "{out}");
    }
}
