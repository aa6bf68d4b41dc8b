//! The annotated function, read without parsing its body (as tracing-attributes does): the
//! body's tokens are passed through untouched, which keeps expansion cheap and every span the
//! user's own.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::token::Brace;
use syn::{Attribute, Signature, Token, Visibility};

/// A function item with its body kept as tokens.
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Body,
}

/// The body of the function, or the `;` of a declaration without one.
pub(crate) enum Body {
    Block(Block),
    Semi(Token![;]),
}

/// A function's braces, its inner attributes, and its statements as tokens.
pub(crate) struct Block {
    pub(crate) brace: Brace,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) stmts: TokenStream,
}

/// The item is not a function: where its first token after attributes and visibility is
/// (`struct`, `impl`, `const` ...), for the error to point at.
pub(crate) struct NotAFunction(pub(crate) Span);

impl ItemFn {
    /// Parses `tokens` as a function; on failure says where the offending item starts.
    pub(crate) fn parse(tokens: TokenStream) -> Result<Self, NotAFunction> {
        syn::parse2::<Self>(tokens.clone()).map_err(|_| {
            // Point at the item's first token after its attributes and visibility
            // (`struct`, `impl`, `const`, `mod` ...).
            let span = syn::parse::Parser::parse2(
                |input: ParseStream| {
                    input.call(Attribute::parse_outer)?;
                    input.parse::<Visibility>()?;
                    let span = input
                        .cursor()
                        .token_tree()
                        .map_or_else(|| input.span(), |(tt, _)| tt.span());
                    input.parse::<TokenStream>()?;
                    Ok(span)
                },
                tokens,
            )
            .unwrap_or_else(|_| Span::call_site());
            NotAFunction(span)
        })
    }
}

impl Parse for ItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = if input.peek(Token![;]) {
            Body::Semi(input.parse()?)
        } else {
            let content;
            let brace = syn::braced!(content in input);
            let inner_attrs = content.call(Attribute::parse_inner)?;
            let stmts: TokenStream = content.parse()?;
            Body::Block(Block {
                brace,
                inner_attrs,
                stmts,
            })
        };
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the function"));
        }
        Ok(Self {
            attrs,
            vis,
            sig,
            body,
        })
    }
}
