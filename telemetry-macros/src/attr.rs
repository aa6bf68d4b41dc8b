//! Attribute arguments: parsed as `key = value` pairs and bare flags, then validated against
//! the keys of the expanding macro.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Path, Token};

use crate::error::combine;

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

    /// The keys this macro accepts, in the order its error messages list them.
    fn keys(self) -> &'static [Key] {
        use Key::{Agent, Args, CallId, Crate, Future, Id, Name, Outcome, Session};
        match self {
            Self::Command => &[Name, Args, Outcome, Future, Crate],
            Self::Tool => &[Name, Session, Agent, CallId, Outcome, Future, Crate],
            Self::Session => &[Agent, Id, Outcome, Future, Crate],
        }
    }
}

/// An argument's key. Every key is handled by an exhaustive `match` in [`Args::set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Name,
    Args,
    Session,
    Agent,
    Id,
    CallId,
    Outcome,
    Future,
    Crate,
}

impl Key {
    const ALL: [Self; 9] = [
        Self::Name,
        Self::Args,
        Self::Session,
        Self::Agent,
        Self::Id,
        Self::CallId,
        Self::Outcome,
        Self::Future,
        Self::Crate,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Args => "args",
            Self::Session => "session",
            Self::Agent => "agent",
            Self::Id => "id",
            Self::CallId => "call_id",
            Self::Outcome => "outcome",
            Self::Future => "future",
            Self::Crate => "crate",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A flag is written alone (`future`); every other key takes `= <value>`.
    fn is_flag(self) -> bool {
        matches!(self, Self::Future)
    }
}

/// The validated arguments of one attribute.
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
    /// `call_id = <expr>` (tool): the model's id of this tool call (`gen_ai.tool.call.id`).
    pub(crate) call_id: Option<Expr>,
    /// `outcome = <fn(&R) -> Outcome>`: classifies the returned value instead of its type.
    pub(crate) outcome: Option<Expr>,
    /// `future`: the function returns a boxed future under a name the macro does not know.
    pub(crate) future: Option<Span>,
}

/// One argument as written: `key = value`, or a bare `key`.
struct Raw {
    key: Ident,
    value: Option<Expr>,
}

impl Args {
    /// The path of the facade crate.
    pub(crate) fn krate(&self) -> TokenStream {
        self.krate
            .clone()
            .unwrap_or_else(|| quote!(::cli_telemetry))
    }

    fn is_set(&self, key: Key) -> bool {
        match key {
            Key::Name => self.name.is_some(),
            Key::Args => self.args.is_some(),
            Key::Session => self.session.is_some(),
            Key::Agent => self.agent.is_some(),
            Key::Id => self.id.is_some(),
            Key::CallId => self.call_id.is_some(),
            Key::Outcome => self.outcome.is_some(),
            Key::Future => self.future.is_some(),
            Key::Crate => self.krate.is_some(),
        }
    }

    /// Stores the value of a key [`validate`] accepted.
    fn set(&mut self, key: Key, ident: &Ident, value: Option<Expr>) -> syn::Result<()> {
        let value = match (key, value) {
            (Key::Future, _) => {
                self.future = Some(ident.span());
                return Ok(());
            }
            (_, Some(value)) => value,
            // A missing value was reported by `validate`.
            (_, None) => return Ok(()),
        };
        match key {
            Key::Name => self.name = Some(name_literal(value)?),
            Key::Crate => self.krate = Some(crate_path(&value)?),
            Key::Args => self.args = Some(value),
            Key::Session => self.session = Some(value),
            Key::Agent => self.agent = Some(value),
            Key::Id => self.id = Some(value),
            Key::CallId => self.call_id = Some(value),
            Key::Outcome => self.outcome = Some(value),
            Key::Future => {}
        }
        Ok(())
    }
}

/// Parses and validates the arguments. Every mistake gives one error pointing at its tokens;
/// several mistakes are reported together.
pub(crate) fn parse(kind: Kind, tokens: TokenStream) -> syn::Result<Args> {
    let raw = Parser::parse2(parse_raw, tokens)?;
    let mut args = Args::default();
    let mut errors = Vec::new();
    for Raw { key, value } in raw {
        if let Err(e) =
            validate(kind, &args, &key, value.as_ref()).and_then(|k| args.set(k, &key, value))
        {
            errors.push(e);
        }
    }
    if kind == Kind::Session && args.agent.is_none() && errors.is_empty() {
        errors.push(syn::Error::new(
            Span::call_site(),
            "#[track_session] needs the agent's name: `#[track_session(agent = <expr>)]`",
        ));
    }
    combine(errors).map(|()| args)
}

/// `key = <expr>` and bare `key`, separated by commas.
fn parse_raw(input: ParseStream) -> syn::Result<Vec<Raw>> {
    let mut raw = Vec::new();
    while !input.is_empty() {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse::<Expr>()?)
        } else {
            None
        };
        raw.push(Raw { key, value });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(raw)
}

/// The key of one argument, if this macro accepts it, once, in the form it was written.
fn validate(kind: Kind, args: &Args, key: &Ident, value: Option<&Expr>) -> syn::Result<Key> {
    let name = key.unraw().to_string();
    let error = |msg: String| Err(syn::Error::new(key.span(), msg));
    let Some(k) = Key::from_name(&name).filter(|k| kind.keys().contains(k)) else {
        let expected: Vec<String> = kind
            .keys()
            .iter()
            .map(|k| format!("`{}`", k.as_str()))
            .collect();
        return error(format!(
            "unknown argument `{name}` for {}; expected one of {}",
            kind.attr_name(),
            expected.join(", ")
        ));
    };
    match (k.is_flag(), value.is_some()) {
        (true, true) => error(format!(
            "`{name}` is a flag and takes no value: `{}`",
            kind.attr_name().replace(']', &format!("({name})]"))
        )),
        (false, false) => error(format!(
            "expected `{name} = <value>`: {} takes arguments as `key = value` pairs",
            kind.attr_name()
        )),
        _ if args.is_set(k) => error(format!("duplicate argument `{name}`")),
        _ => Ok(k),
    }
}

/// `name = "..."`: a non-empty string literal.
fn name_literal(value: Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) if !s.value().is_empty() => Ok(s),
        other => Err(syn::Error::new_spanned(
            other,
            "`name` expects a non-empty string literal, e.g. `name = \"run\"`",
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(kind: Kind, args: &str) -> Result<Args, String> {
        parse(kind, args.parse().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_is_named_and_stored_under_its_own_name() {
        for key in Key::ALL {
            assert_eq!(Key::from_name(key.as_str()), Some(key));
        }
        let args = parse_str(
            Kind::Tool,
            "name = \"n\", session = s, agent = a, call_id = c, outcome = f, future, crate = ::c",
        )
        .unwrap();
        for key in Kind::Tool.keys() {
            assert!(args.is_set(*key), "{}", key.as_str());
        }
        let args = parse_str(Kind::Session, "agent = a, id = i").unwrap();
        assert!(args.id.is_some() && args.session.is_none());
        let args = parse_str(Kind::Command, "args = x").unwrap();
        assert!(args.args.is_some() && args.id.is_none());
    }

    #[test]
    fn mistakes_are_named() {
        for (kind, args, error) in [
            (
                Kind::Command,
                "id = 1",
                "unknown argument `id` for #[track_command]",
            ),
            (
                Kind::Tool,
                "future = true",
                "`future` is a flag and takes no value",
            ),
            (Kind::Tool, "outcome", "expected `outcome = <value>`"),
            (Kind::Tool, "future, future", "duplicate argument `future`"),
            (
                Kind::Tool,
                "name = \"\"",
                "`name` expects a non-empty string literal",
            ),
        ] {
            let e = parse_str(kind, args).err().unwrap_or_default();
            assert!(e.starts_with(error), "{args}: {e}");
        }
    }
}
