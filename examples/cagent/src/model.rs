//! The offline `scripted` model provider: a stand-in for a real LLM, so the example runs
//! without network access or API keys.
//!
//! Each prompt line is one model turn. The "model" reads the line and decides:
//! - `read PATH` → call the `read_file` tool,
//! - `list DIR` (or just `list`, meaning `.`) → call the `list_directory` tool,
//! - `ask AGENT TEXT` → hand `TEXT` to a sub-agent (the `transfer_task` tool),
//! - anything else → answer in text.
//!
//! Token counts are `ceil(characters / 4)` of the turn's input and output; the cost comes from
//! [`PRICES`].

use std::fmt;

/// The only provider this example ships.
pub const SCRIPTED: &str = "scripted";

/// Price of one scripted model, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// The model name after `scripted/`.
    pub model: &'static str,
    /// Dollars per million input tokens.
    pub input_per_million: f64,
    /// Dollars per million output tokens.
    pub output_per_million: f64,
}

/// The scripted models and their (made-up, realistic-looking) prices.
pub const PRICES: &[Price] = &[
    Price {
        model: "echo",
        input_per_million: 0.5,
        output_per_million: 1.5,
    },
    Price {
        model: "small",
        input_per_million: 0.15,
        output_per_million: 0.6,
    },
    Price {
        model: "large",
        input_per_million: 3.0,
        output_per_million: 15.0,
    },
];

/// A model reference, `provider/model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// E.g. `scripted`.
    pub provider: String,
    /// E.g. `echo`.
    pub name: String,
}

impl ModelRef {
    /// A reference to `provider/name`.
    pub fn new(provider: &str, name: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The price of this model, if it is a known scripted model.
    pub fn price(&self) -> Option<Price> {
        if self.provider != SCRIPTED {
            return None;
        }
        PRICES.iter().copied().find(|p| p.model == self.name)
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.name)
    }
}

/// Checks that this example can run `model`; the error explains why not, on one line.
pub fn check(model: &ModelRef) -> Result<(), String> {
    let names = || {
        PRICES
            .iter()
            .map(|p| format!("{SCRIPTED}/{}", p.model))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if model.provider != SCRIPTED {
        return Err(format!(
            "model `{model}`: provider `{}` is not available; this example is offline and ships only the `{SCRIPTED}` provider ({})",
            model.provider,
            names()
        ));
    }
    if model.price().is_none() {
        return Err(format!(
            "model `{model}` is not a scripted model (available: {})",
            names()
        ));
    }
    Ok(())
}

/// Tokens for a text: `ceil(characters / 4)`.
pub fn tokens(text: &str) -> u64 {
    let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    chars.div_ceil(4)
}

/// The cost of one turn with `price`.
pub fn cost(price: Price, input_tokens: u64, output_tokens: u64) -> f64 {
    // Token counts of one turn are far below 2^52: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let (i, o) = (input_tokens as f64, output_tokens as f64);
    (i * price.input_per_million + o * price.output_per_million) / 1_000_000.0
}

/// What the scripted model decides to do with one prompt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Call `read_file` on the path.
    Read(String),
    /// Call `list_directory` on the directory.
    List(String),
    /// Hand the text to a sub-agent.
    Ask {
        /// The sub-agent's name.
        agent: String,
        /// The task.
        task: String,
    },
    /// Answer in text.
    Reply(String),
}

/// Decides what to do with one (non-empty, trimmed) prompt line.
pub fn decide(line: &str) -> Step {
    let line = line.trim();
    let (verb, rest) = match line.split_once(char::is_whitespace) {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (line, ""),
    };
    match (verb, rest) {
        ("read", path) if !path.is_empty() => Step::Read(path.to_owned()),
        ("list", "") => Step::List(".".to_owned()),
        ("list", dir) => Step::List(dir.to_owned()),
        ("ask", rest) if !rest.is_empty() => {
            let (agent, task) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Step::Ask {
                agent: agent.to_owned(),
                task: task.trim().to_owned(),
            }
        }
        ("read", _) => Step::Reply("Which file? Write `read PATH`.".to_owned()),
        ("ask", _) => Step::Reply("Ask whom? Write `ask AGENT TASK`.".to_owned()),
        _ => Step::Reply(format!("You said: {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_ceil_chars_over_four() {
        assert_eq!(tokens(""), 0);
        assert_eq!(tokens("a"), 1);
        assert_eq!(tokens("abcd"), 1);
        assert_eq!(tokens("abcde"), 2);
        // characters, not bytes
        assert_eq!(tokens("ééééé"), 2);
    }

    #[test]
    fn cost_uses_the_price_table() {
        let large = ModelRef::new("scripted", "large").price().unwrap();
        let c = cost(large, 1_000_000, 1_000_000);
        assert!((c - 18.0).abs() < 1e-9);
        assert!(ModelRef::new("scripted", "nope").price().is_none());
        assert!(ModelRef::new("openai", "echo").price().is_none());
    }

    #[test]
    fn decisions() {
        assert_eq!(decide("read a.txt"), Step::Read("a.txt".into()));
        assert_eq!(
            decide("  read   my file.txt "),
            Step::Read("my file.txt".into())
        );
        assert_eq!(decide("list"), Step::List(".".into()));
        assert_eq!(decide("list\tsrc"), Step::List("src".into()));
        assert_eq!(
            decide("ask helper summarise it"),
            Step::Ask {
                agent: "helper".into(),
                task: "summarise it".into()
            }
        );
        assert!(matches!(decide("read"), Step::Reply(_)));
        assert!(matches!(decide("ask"), Step::Reply(_)));
        assert_eq!(
            decide("hello there"),
            Step::Reply("You said: hello there".into())
        );
        assert_eq!(decide("reading"), Step::Reply("You said: reading".into()));
    }

    #[test]
    fn check_explains() {
        assert!(check(&ModelRef::new("scripted", "echo")).is_ok());
        let e = check(&ModelRef::new("anthropic", "claude")).unwrap_err();
        assert!(e.contains("offline") && e.contains("scripted/echo"), "{e}");
    }
}
