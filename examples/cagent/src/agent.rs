//! Agent files: the subset of cagent's YAML shape this example understands.
//!
//! ```yaml
//! agents:
//!   root:
//!     model: fast               # a name from `models:`, or `provider/model` inline
//!     description: Reads files
//!     instruction: You help with files.
//!     toolsets:
//!       - type: filesystem
//!     sub_agents: [helper]      # optional: agents `root` may `ask`
//!   helper:
//!     model: scripted/small
//! models:
//!   fast:
//!     provider: scripted
//!     model: echo
//! ```
//!
//! Keys this example does not know (cagent has many more) are ignored; wrong types, unknown
//! toolsets, unknown models or sub-agents are errors that name the file and, where the parser
//! knows it, the line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::model::{self, ModelRef};

/// The name of the agent a run starts with.
pub const ROOT: &str = "root";

/// The toolset types this example implements.
pub const SUPPORTED_TOOLSETS: &[&str] = &["filesystem"];

/// A loaded and validated agent file.
#[derive(Debug)]
pub struct AgentFile {
    root: Agent,
    others: BTreeMap<String, Agent>,
}

impl AgentFile {
    /// The `root` agent.
    pub fn root(&self) -> &Agent {
        &self.root
    }

    /// The agent called `name`.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        if name == ROOT {
            Some(&self.root)
        } else {
            self.others.get(name)
        }
    }
}

/// One agent, with its model resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The key under `agents:`.
    pub name: String,
    /// The model it runs on.
    pub model: ModelRef,
    /// What it is for.
    pub description: String,
    /// Its system instruction.
    pub instruction: String,
    /// Whether it has the `filesystem` toolset (`read_file`, `list_directory`).
    pub filesystem: bool,
    /// Agents it may hand a task to.
    pub sub_agents: Vec<String>,
}

/// Why an agent file could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read (missing, unreadable, a directory).
    Unreadable,
    /// Not valid YAML, or valid YAML of the wrong shape.
    Malformed,
    /// A toolset `type` this example does not implement.
    UnknownToolset,
    /// A model reference that names no `models:` entry and no known `provider/model`.
    UnknownModel,
    /// No `root` agent, or a `sub_agents` entry naming no agent.
    UnknownAgent,
}

impl ErrorKind {
    /// A short description that carries no file contents or paths: what telemetry records.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Unreadable => "agent file cannot be read",
            Self::Malformed => "agent file is malformed",
            Self::UnknownToolset => "agent file names an unknown toolset",
            Self::UnknownModel => "agent file names an unknown model",
            Self::UnknownAgent => "agent file names an unknown agent",
        }
    }
}

/// An agent file error: one line, `FILE:LINE:COLUMN: message` (or `FILE: message` when the
/// position is unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFileError {
    /// The file as the user named it.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The explanation, one line.
    pub message: String,
}

impl fmt::Display for AgentFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for AgentFileError {}

#[derive(Deserialize)]
struct RawFile {
    agents: Spanned<BTreeMap<String, RawAgent>>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
}

#[derive(Deserialize)]
struct RawAgent {
    model: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instruction: String,
    #[serde(default)]
    toolsets: Vec<RawToolset>,
    #[serde(default)]
    sub_agents: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawToolset {
    #[serde(rename = "type")]
    kind: Spanned<String>,
}

#[derive(Deserialize)]
struct RawModel {
    provider: Spanned<String>,
    model: String,
}

/// Reads and validates the agent file at `path`.
pub fn load(path: &Path) -> Result<AgentFile, AgentFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| AgentFileError {
        path: path.to_owned(),
        position: None,
        kind: ErrorKind::Unreadable,
        message: format!("cannot read agent file: {}", io_reason(&e)),
    })?;
    parse(path, &text)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

/// Parses and validates agent-file text; `path` is used in error messages only.
pub fn parse(path: &Path, text: &str) -> Result<AgentFile, AgentFileError> {
    let error = |kind, position: Option<(u64, u64)>, message: String| AgentFileError {
        path: path.to_owned(),
        position,
        kind,
        message,
    };
    if text.trim().is_empty() {
        return Err(error(
            ErrorKind::Malformed,
            None,
            "the file is empty; expected an `agents:` map with a `root` agent".to_owned(),
        ));
    }
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
        let position = e.location().and_then(known_position);
        error(
            ErrorKind::Malformed,
            position,
            format!("not a valid agent file: {}", yaml_message(&e)),
        )
    })?;
    let mut agents = BTreeMap::new();
    for (name, agent) in &raw.agents.value {
        let checked = check_agent(name, agent, &raw)
            .map_err(|(kind, loc, message)| error(kind, known_position(loc), message))?;
        agents.insert(name.clone(), checked);
    }
    let Some(root) = agents.remove(ROOT) else {
        return Err(error(
            ErrorKind::UnknownAgent,
            known_position(raw.agents.referenced),
            format!("`agents:` has no `{ROOT}` agent; the run starts with `{ROOT}`"),
        ));
    };
    Ok(AgentFile {
        root,
        others: agents,
    })
}

/// Validates one agent of the file: its model, toolsets and sub-agents. An error says what
/// is wrong and where.
fn check_agent(
    name: &str,
    agent: &RawAgent,
    raw: &RawFile,
) -> Result<Agent, (ErrorKind, Location, String)> {
    let model = resolve_model(&agent.model.value, &raw.models)
        .map_err(|message| (ErrorKind::UnknownModel, agent.model.referenced, message))?;
    let mut filesystem = false;
    for toolset in &agent.toolsets {
        match toolset.kind.value.as_str() {
            "filesystem" => filesystem = true,
            other => {
                let message = format!(
                    "agent `{name}`: unknown toolset type `{other}` (supported: {})",
                    SUPPORTED_TOOLSETS.join(", ")
                );
                return Err((ErrorKind::UnknownToolset, toolset.kind.referenced, message));
            }
        }
    }
    if let Some(sub) = agent
        .sub_agents
        .iter()
        .find(|sub| !raw.agents.value.contains_key(&sub.value))
    {
        let message = format!(
            "agent `{name}`: sub-agent `{}` is not defined under `agents:`",
            sub.value
        );
        return Err((ErrorKind::UnknownAgent, sub.referenced, message));
    }
    Ok(Agent {
        name: name.to_owned(),
        model,
        description: agent.description.clone(),
        instruction: agent.instruction.clone(),
        filesystem,
        sub_agents: agent.sub_agents.iter().map(|s| s.value.clone()).collect(),
    })
}

/// A model reference is a `models:` key, or `provider/model` written inline.
fn resolve_model(reference: &str, models: &BTreeMap<String, RawModel>) -> Result<ModelRef, String> {
    let model = if let Some(m) = models.get(reference) {
        ModelRef::new(m.provider.value.trim(), m.model.trim())
    } else if let Some((provider, name)) = reference.split_once('/') {
        ModelRef::new(provider.trim(), name.trim())
    } else {
        let defined: Vec<&str> = models.keys().map(String::as_str).collect();
        return Err(if defined.is_empty() {
            format!(
                "model `{reference}` is not defined: add it under `models:` or write `provider/model`, e.g. `scripted/echo`"
            )
        } else {
            format!(
                "model `{reference}` is not defined under `models:` (defined: {})",
                defined.join(", ")
            )
        });
    };
    model::check(&model)?;
    Ok(model)
}

fn known_position(loc: Location) -> Option<(u64, u64)> {
    (loc.line() > 0).then(|| (loc.line(), loc.column()))
}

/// The parser's message without its snippet or trailing position, on one line.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let rendered = e.without_snippet().render_with_options(options);
    let first = rendered.lines().next().unwrap_or("").trim();
    let message = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    if message.is_empty() {
        "invalid YAML".to_owned()
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<AgentFile, AgentFileError> {
        parse(Path::new("agent.yaml"), text)
    }

    #[test]
    fn parses_cagent_shape_with_models_map_and_inline_models() {
        let file = parse_str(
            "agents:\n  root:\n    model: fast\n    description: d\n    instruction: be brief\n    toolsets:\n      - type: filesystem\n    sub_agents: [helper]\n    add_date: true\n  helper:\n    model: scripted/large\nmodels:\n  fast:\n    provider: scripted\n    model: echo\n",
        )
        .unwrap();
        let root = file.root();
        assert_eq!(root.model.to_string(), "scripted/echo");
        assert!(root.filesystem);
        assert_eq!(root.instruction, "be brief");
        assert_eq!(root.sub_agents, vec!["helper".to_owned()]);
        let helper = file.agent("helper").unwrap();
        assert_eq!(helper.model.to_string(), "scripted/large");
        assert!(!helper.filesystem);
    }

    #[test]
    fn unknown_toolset_names_file_line_and_type() {
        let e = parse_str(
            "agents:\n  root:\n    model: scripted/echo\n    toolsets:\n      - type: shell\n",
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownToolset);
        assert_eq!(e.position.map(|p| p.0), Some(5));
        let line = e.to_string();
        assert!(line.starts_with("agent.yaml:5:"), "{line}");
        assert!(line.contains("`shell`"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn malformed_yaml_is_one_line_with_position() {
        for text in [
            "agents:\n  root: [unclosed\n",
            "agents:\n  root:\n    model: scripted/echo\n    toolsets: yes please\n",
            "agents: 3\n",
            "just a string\n",
            "agents:\n  root:\n    description: no model\n",
            "\t- :\n",
        ] {
            let e = parse_str(text).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Malformed, "{text:?}");
            let line = e.to_string();
            assert!(line.starts_with("agent.yaml:"), "{line}");
            assert!(!line.contains('\n'), "{line:?}");
            assert!(e.position.is_some(), "{line}");
        }
    }

    #[test]
    fn empty_file_is_malformed() {
        let e = parse_str("  \n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert_eq!(
            e.to_string(),
            "agent.yaml: the file is empty; expected an `agents:` map with a `root` agent"
        );
    }

    #[test]
    fn missing_root_unknown_sub_agent_and_unknown_model() {
        let e = parse_str("agents:\n  helper:\n    model: scripted/echo\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownAgent);
        let e = parse_str("agents:\n  root:\n    model: scripted/echo\n    sub_agents: [ghost]\n")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownAgent);
        assert_eq!(e.position.map(|p| p.0), Some(4));
        let e = parse_str("agents:\n  root:\n    model: nothing\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownModel);
        assert_eq!(e.position, Some((3, 12)));
        let e = parse_str("agents:\n  root:\n    model: scripted/gpt-9\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownModel);
        let e = parse_str("agents:\n  root:\n    model: openai/gpt-4o\n").unwrap_err();
        assert!(e.message.contains("offline"), "{}", e.message);
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = load(Path::new("/nonexistent/dir/agent.yaml")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert_eq!(
            e.to_string(),
            "/nonexistent/dir/agent.yaml: cannot read agent file: no such file"
        );
    }

    #[test]
    fn shipped_agents_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 3);
    }
}
