//! Code generation: the new body of a tracked function, one function per [`Shape`].
//!
//! The body of a sync function (names shortened):
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
//! Invariants of every shape: the original body appears once; when telemetry is off the cost
//! is one relaxed atomic load and a branch, with no clock read and no argument expression
//! evaluated; everything telemetry does once enabled happens out of line (`run`, or the
//! wrapping future), so the off path stays small enough to inline; the generated locals have
//! mixed-site hygiene, invisible to the body. `R'` is the shape's `ret`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Ident, LitStr, Signature};

use crate::attr::{Args, Kind};
use crate::item::Block;
use crate::shape::Shape;

/// What every shape's code is made of.
struct Parts<'a> {
    /// `<crate>::__private`.
    p: TokenStream,
    /// The inner attributes and `let guard = <Some(tracker) when enabled, else None>;`.
    prelude: TokenStream,
    /// The original statements in braces.
    body: TokenStream,
    args: &'a Args,
}

/// The new body (without its braces).
pub(crate) fn body(
    kind: Kind,
    args: &Args,
    sig: &Signature,
    shape: &Shape,
    block: &Block,
) -> TokenStream {
    let krate = args.krate();
    let p = quote!(#krate::__private);
    let start = start(kind, args, sig, &p);
    let inner_attrs = &block.inner_attrs;
    let stmts = &block.stmts;
    let guard = ident("__telemetry_guard");
    let parts = Parts {
        prelude: quote! {
            #(#inner_attrs)*
            let #guard = #start;
        },
        body: quote!({ #stmts }),
        p,
        args,
    };
    match shape {
        Shape::Never => never(&start, block),
        Shape::Async { ret } => async_fn(&parts, ret),
        Shape::ImplFuture { ret } => impl_future(&parts, ret),
        Shape::BoxedFuture { ret } => boxed_future(&parts, ret),
        Shape::Sync { ret } => sync(&parts, ret),
    }
}

/// `if let Some(s) = start() { Some(s.<kind>(..)) } else { None }`: the argument expressions
/// run only once an enabled client was found.
fn start(kind: Kind, args: &Args, sig: &Signature, p: &TokenStream) -> TokenStream {
    let name = args.name.clone().unwrap_or_else(|| {
        let ident = syn::ext::IdentExt::unraw(&sig.ident).to_string();
        LitStr::new(&ident, sig.ident.span())
    });
    let call = match kind {
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
            let call_id = args
                .call_id
                .as_ref()
                .map(|e| quote_spanned!(span_of(e)=> .call_id(#p::call_id(#e))));
            quote!(tool(#name, #session, #agent)#call_id)
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
    quote! {
        if let ::core::option::Option::Some(#guard) = #p::start() {
            ::core::option::Option::Some(#guard.#call)
        } else {
            ::core::option::Option::None
        }
    }
}

/// The `Outcome` of the returned value, `value` being a reference to it: by `outcome = f`
/// when given, else by the value's type (autoref dispatch, see `__private::Probe`).
fn classify(parts: &Parts<'_>, value: &TokenStream) -> TokenStream {
    let p = &parts.p;
    match &parts.args.outcome {
        Some(f) => quote_spanned!(span_of(f)=> #p::outcome_with(#f, #value)),
        None => quote! {{
            use #p::{ViaAnyResult as _, ViaDefault as _, ViaResult as _, ViaTrait as _};
            (&&&&#p::Probe(#value)).telemetry_outcome()
        }},
    }
}

/// `-> !`: only a panic ends the call, and the guard's drop records it.
fn never(start: &TokenStream, block: &Block) -> TokenStream {
    let Block {
        inner_attrs, stmts, ..
    } = block;
    let live = ident("_telemetry_guard");
    quote! {
        #(#inner_attrs)*
        let #live = #start;
        #stmts
    }
}

/// `async fn`: awaits the body, typed as the function's output, then records.
fn async_fn(parts: &Parts<'_>, ret_ty: &TokenStream) -> TokenStream {
    let Parts {
        p, prelude, body, ..
    } = parts;
    let (guard, ret) = (ident("__telemetry_guard"), ident("__telemetry_ret"));
    let outcome = classify(parts, &quote!(&#ret));
    quote! {
        #prelude
        let #ret = #p::typed::<#ret_ty, _>(#p::frame_of(&#guard), async move #body).await;
        if let ::core::option::Option::Some(#guard) = #guard {
            #guard.finish(#outcome);
        }
        #ret
    }
}

/// `-> impl Future`: returns a future that awaits the body's and records when it completes.
/// The call's span is current while the body makes its future and during each of its polls.
fn impl_future(parts: &Parts<'_>, ret_ty: &TokenStream) -> TokenStream {
    let Parts {
        p, prelude, body, ..
    } = parts;
    let (guard, ret, frame) = (
        ident("__telemetry_guard"),
        ident("__telemetry_ret"),
        ident("__telemetry_frame"),
    );
    let outcome = classify(parts, &quote!(&#ret));
    quote! {
        #prelude
        let #frame = #p::frame_of(&#guard);
        let #ret = #p::once_in::<#ret_ty, _>(#frame, move || #body);
        async move {
            let #ret = #p::in_span(#frame, #ret).await;
            if let ::core::option::Option::Some(#guard) = #guard {
                #guard.finish(#outcome);
            }
            #ret
        }
    }
}

/// A boxed future (what `#[async_trait]` makes of an `async fn`): when enabled,
/// `BoxedFuture::tracked` boxes a future that awaits the body's and records, so the duration
/// covers the awaited work; the call's span is current while the body makes its future and
/// during each of its polls. Only that trait needs the type to be a boxed future: a function
/// returning something else gets that one error.
fn boxed_future(parts: &Parts<'_>, ret_ty: &TokenStream) -> TokenStream {
    let Parts {
        p, prelude, body, ..
    } = parts;
    let (guard, ret, frame) = (
        ident("__telemetry_guard"),
        ident("__telemetry_ret"),
        ident("__telemetry_frame"),
    );
    let outcome = classify(parts, &quote!(#ret));
    quote! {
        #prelude
        let #frame = #p::frame_of(&#guard);
        let #ret = #p::once_in::<#ret_ty, _>(#frame, move || #body);
        match #guard {
            ::core::option::Option::None => #ret,
            ::core::option::Option::Some(#guard) => {
                #p::BoxedFuture::tracked(#ret, #guard, #frame, move |#ret| #outcome)
            }
        }
    }
}

/// A sync function: off, calls the body; on, `run` times it and records.
fn sync(parts: &Parts<'_>, ret_ty: &TokenStream) -> TokenStream {
    let Parts {
        p, prelude, body, ..
    } = parts;
    let (guard, ret, run) = (
        ident("__telemetry_guard"),
        ident("__telemetry_ret"),
        ident("__telemetry_body"),
    );
    let outcome = classify(parts, &quote!(#ret));
    quote! {
        #prelude
        let #run = #p::body::<#ret_ty, _>(move || #body);
        match #guard {
            ::core::option::Option::None => #run(),
            ::core::option::Option::Some(#guard) => #p::run(#guard, #run, |#ret| #outcome),
        }
    }
}

/// A local of the generated code, invisible to the user's body (mixed-site hygiene).
fn ident(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Where errors about a user expression should point.
fn span_of(e: &Expr) -> Span {
    syn::spanned::Spanned::span(e)
}

/// `Some(convert(expr))` or `None`.
fn some(expr: Option<&Expr>, convert: &TokenStream) -> TokenStream {
    match expr {
        Some(e) => quote_spanned!(span_of(e)=> ::core::option::Option::Some(#convert(#e))),
        None => quote!(::core::option::Option::None),
    }
}
