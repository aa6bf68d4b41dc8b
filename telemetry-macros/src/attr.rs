//! Attribute arguments: `key = value` pairs, validated per macro.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Path, Token};

/// Which macro is expanding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Command,
    Tool,
    Session,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Self::Command => "#[track_command]",
            Self::Tool => "#[track_tool]",
            Self::Session => "#[track_session]",
        }
    }

    /// The arguments this macro accepts, in the order its error messages list them.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Command => &["name", "args", "crate"],
            Self::Tool => &["name", "session", "agent", "crate"],
            Self::Session => &["agent", "id", "crate"],
        }
    }
}

/// The parsed arguments of one attribute.
#[derive(Default)]
pub(crate) struct Args {
    /// `crate = path`: where the facade is (default `::cli_telemetry`).
    pub(crate) krate: Option<TokenStream>,
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `args = <expr>` (command).
    pub(crate) args: Option<Expr>,
    /// `session = <expr>` (tool).
    pub(crate) session: Option<Expr>,
    /// `agent = <expr>` (tool, session).
    pub(crate) agent: Option<Expr>,
    /// `id = <expr>` (session).
    pub(crate) id: Option<Expr>,
}

impl Args {
    /// The path of the facade crate.
    pub(crate) fn krate(&self) -> TokenStream {
        self.krate
            .clone()
            .unwrap_or_else(|| quote!(::cli_telemetry))
    }
}

/// Parses and validates the arguments. Every mistake gives one error pointing at its tokens;
/// several mistakes are reported together.
pub(crate) fn parse(kind: Kind, tokens: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let mut errors: Vec<syn::Error> = Vec::new();
    let pairs = Parser::parse2(
        |input: ParseStream| {
            let mut pairs = Vec::new();
            while !input.is_empty() {
                let key = Ident::parse_any(input)?;
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "expected `{key} = <value>`: {} takes arguments as `key = value` pairs",
                            kind.attr_name()
                        ),
                    ));
                }
                input.parse::<Token![=]>()?;
                let value: Expr = input.parse()?;
                pairs.push((key, value));
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(pairs)
        },
        tokens,
    )?;
    for (key, value) in pairs {
        let name = key.unraw().to_string();
        if !kind.keys().contains(&name.as_str()) {
            let expected = kind
                .keys()
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            errors.push(syn::Error::new(
                key.span(),
                format!(
                    "unknown argument `{name}` for {}; expected one of {expected}",
                    kind.attr_name()
                ),
            ));
            continue;
        }
        let duplicate = match name.as_str() {
            "crate" => args.krate.is_some(),
            "name" => args.name.is_some(),
            "args" => args.args.is_some(),
            "session" => args.session.is_some(),
            "agent" => args.agent.is_some(),
            _ => args.id.is_some(),
        };
        if duplicate {
            errors.push(syn::Error::new(
                key.span(),
                format!("duplicate argument `{name}`"),
            ));
            continue;
        }
        match name.as_str() {
            "crate" => match crate_path(&value) {
                Ok(path) => args.krate = Some(path),
                Err(e) => errors.push(e),
            },
            "name" => match value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) if !s.value().is_empty() => args.name = Some(s),
                other => errors.push(syn::Error::new_spanned(
                    other,
                    "`name` expects a non-empty string literal, e.g. `name = \"run\"`",
                )),
            },
            "args" => args.args = Some(value),
            "session" => args.session = Some(value),
            "agent" => args.agent = Some(value),
            _ => args.id = Some(value),
        }
    }
    if kind == Kind::Session && args.agent.is_none() && errors.is_empty() {
        errors.push(syn::Error::new(
            Span::call_site(),
            "#[track_session] needs the agent's name: `#[track_session(agent = <expr>)]`",
        ));
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        Some(mut first) => {
            errors.for_each(|e| first.combine(e));
            Err(first)
        }
        None => Ok(args),
    }
}

/// `crate = path` or `crate = "path"` (as serde spells it).
fn crate_path(value: &Expr) -> syn::Result<TokenStream> {
    let msg = "`crate` expects a path to the telemetry crate, e.g. `crate = ::cli_telemetry`";
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(quote!(#p)),
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => s
            .parse::<Path>()
            .map(|p| quote!(#p))
            .map_err(|_| syn::Error::new(s.span(), msg)),
        other => Err(syn::Error::new_spanned(other, msg)),
    }
}
