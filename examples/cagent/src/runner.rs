//! Runs an agent over a prompt: one model turn per prompt line, tools called as the model
//! decides, the answer written as it is produced.

use std::io::{self, Write};
use std::path::Path;

use crate::agent::{Agent, AgentFile};
use crate::model::{self, Step};
use crate::tools::{self, ToolError};

/// What a run did, for the caller (telemetry has its own account in the session).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Model turns taken.
    pub turns: u64,
    /// Tool calls made.
    pub tool_calls: u64,
    /// Tool calls that failed.
    pub failed_tool_calls: u64,
}

/// Runs the file's `root` agent on each non-blank line of `lines`, writing each answer to
/// `out` as soon as it is ready. The whole run is one telemetry session of `root` (with a
/// fresh random session id); an `Err` counts as an error of the session.
///
/// # Errors
/// Reading `lines` or writing `out` failed.
#[cli_telemetry::track_session(agent = &file.root().name)]
pub fn run(
    file: &AgentFile,
    lines: impl IntoIterator<Item = io::Result<String>>,
    out: &mut dyn Write,
) -> io::Result<Report> {
    let mut runner = Runner {
        file,
        report: Report::default(),
    };
    for line in lines {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let answer = runner.turn(file.root(), line);
        writeln!(out, "{}", answer.trim_end_matches('\n'))?;
        out.flush()?;
    }
    Ok(runner.report)
}

struct Runner<'a> {
    file: &'a AgentFile,
    report: Report,
}

impl Runner<'_> {
    /// One model turn of `agent` on `line`: decide, call a tool if needed, answer, and record
    /// the turn's token usage, duration and provider.
    fn turn(&mut self, agent: &Agent, line: &str) -> String {
        self.report.turns += 1;
        let model = &agent.model;
        let turn = cli_telemetry::current().model_turn(&model.provider, &model.to_string());
        let mut input = format!("{}\n{line}", agent.instruction);
        let answer = match model::decide(line) {
            Step::Reply(text) => text,
            Step::Read(path) if agent.filesystem => {
                let result = tools::read_file(&agent.name, Path::new(&path));
                self.count(&result);
                match result {
                    Ok(text) => {
                        input.push('\n');
                        input.push_str(&text);
                        text
                    }
                    Err(e) => format!("I could not read `{path}`: {e}."),
                }
            }
            Step::List(dir) if agent.filesystem => {
                let result = tools::list_directory(&agent.name, Path::new(&dir));
                self.count(&result);
                match result {
                    Ok(names) if names.is_empty() => format!("`{dir}` is empty."),
                    Ok(names) => {
                        let listing = names.join("\n");
                        input.push('\n');
                        input.push_str(&listing);
                        listing
                    }
                    Err(e) => format!("I could not list `{dir}`: {e}."),
                }
            }
            Step::Read(path) => format!("I have no filesystem tools, so I cannot read `{path}`."),
            Step::List(dir) => format!("I have no filesystem tools, so I cannot list `{dir}`."),
            Step::Ask { agent: sub, .. } if agent.sub_agents.is_empty() => {
                format!("I have no sub-agents, so I cannot ask `{sub}`.")
            }
            Step::Ask { agent: sub, task } => {
                let result = self.transfer_task(agent, &sub, &task);
                self.count(&result);
                match result {
                    Ok(text) => {
                        input.push('\n');
                        input.push_str(&text);
                        format!("{sub}: {text}")
                    }
                    Err(e) => format!("I could not ask `{sub}`: {e}."),
                }
            }
        };
        record_usage(turn, agent, &input, &answer);
        answer
    }

    /// The `transfer_task` tool: hands `task` to the sub-agent `sub` for one turn.
    #[cli_telemetry::track_tool(agent = &caller.name)]
    fn transfer_task(
        &mut self,
        caller: &Agent,
        sub: &str,
        task: &str,
    ) -> Result<String, ToolError> {
        let file = self.file;
        let target = caller
            .sub_agents
            .iter()
            .any(|s| s == sub)
            .then(|| file.agent(sub))
            .flatten()
            .ok_or(ToolError::UnknownAgent)?;
        let task = if task.is_empty() { "hello" } else { task };
        Ok(self.turn(target, task))
    }

    fn count<T>(&mut self, result: &Result<T, ToolError>) {
        self.report.tool_calls += 1;
        if result.is_err() {
            self.report.failed_tool_calls += 1;
        }
    }
}

/// Records one model turn, ending now: tokens of what went in and came out, and its cost at
/// the model's price.
fn record_usage(turn: cli_telemetry::ModelTurn, agent: &Agent, input: &str, answer: &str) {
    let input_tokens = model::tokens(input);
    let output_tokens = model::tokens(answer);
    // Agent files are validated: every model has a price. Zero is the safe fallback.
    let cost = agent
        .model
        .price()
        .map_or(0.0, |p| model::cost(p, input_tokens, output_tokens));
    turn.finish(input_tokens, output_tokens, cost);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent;

    fn file(text: &str) -> AgentFile {
        agent::parse(Path::new("t.yaml"), text).unwrap()
    }

    fn run_capture(file: &AgentFile, prompt: &str) -> (String, Report, Vec<serde_json::Value>) {
        let mut out = Vec::new();
        let (report, records) = cli_telemetry::testing::capture(|| {
            run(file, prompt.lines().map(|l| Ok(l.to_owned())), &mut out).unwrap()
        });
        (String::from_utf8(out).unwrap(), report, records)
    }

    const FS: &str = "agents:\n  root:\n    model: scripted/large\n    instruction: help\n    toolsets:\n      - type: filesystem\n";

    #[test]
    fn one_turn_per_line_with_tools_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present.txt");
        std::fs::write(&present, "twelve chars").unwrap();
        let missing = dir.path().join("missing.txt");
        let prompt = format!(
            "read {}\n\nread {}\nhi",
            present.display(),
            missing.display()
        );
        let (out, report, records) = run_capture(&file(FS), &prompt);
        assert_eq!(
            report,
            Report {
                turns: 3,
                tool_calls: 2,
                failed_tool_calls: 1
            }
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "twelve chars");
        assert!(lines[1].starts_with("I could not read `") && lines[1].ends_with("`: not found."));
        assert_eq!(lines[2], "You said: hi");

        let kinds: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["event"].as_str().unwrap(),
                    r["properties"]["action"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "session:start",
                "tool:call",
                "token:usage",
                "tool:call",
                "token:usage",
                "token:usage",
                "session:end"
            ]
        );
        // First turn: input "help\nread <path>\ntwelve chars", output "twelve chars" (3 tokens).
        let input = format!("help\nread {}\ntwelve chars", present.display());
        assert_eq!(
            records[2]["properties"]["input_tokens"],
            model::tokens(&input)
        );
        assert_eq!(records[2]["properties"]["output_tokens"], 3);
        assert_eq!(records[2]["properties"]["model_name"], "scripted/large");
        let end = &records[6]["properties"];
        assert_eq!(end["tool_calls"], 2);
        assert_eq!(end["error_count"], 1);
        assert_eq!(end["agent_name"], "root");
        let sum: u64 = records
            .iter()
            .filter(|r| r["event"] == "token")
            .map(|r| r["properties"]["input_tokens"].as_u64().unwrap())
            .sum();
        assert_eq!(end["input_tokens"], sum);
    }

    #[test]
    fn each_turn_is_a_chat_span_with_its_provider_spanning_its_tool_call() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        let prompt = format!("read {}", dir.path().join("a.txt").display());
        let (_, records) = cli_telemetry::testing::capture_otel(|| {
            run(
                &file(FS),
                prompt.lines().map(|l| Ok(l.to_owned())),
                &mut Vec::new(),
            )
            .unwrap()
        });
        let span = |event: &str| {
            let r = records.iter().find(|r| r["event"] == event).unwrap();
            let t = &r["trace"];
            (
                t["start_ns"].as_u64().unwrap(),
                t["end_ns"].as_u64().unwrap(),
                t.clone(),
            )
        };
        let (tool_start, tool_end, tool) = span("tool");
        let (chat_start, chat_end, chat) = span("token");
        assert_eq!(chat["provider"], "scripted");
        assert!(chat_start <= tool_start && tool_end <= chat_end);
        assert_eq!(
            chat["parent_span_id"], tool["parent_span_id"],
            "both in the session"
        );
    }

    #[test]
    fn without_filesystem_tools_the_model_answers_in_text() {
        let f = file("agents:\n  root:\n    model: scripted/echo\n");
        let (out, report, _) = run_capture(&f, "read x\nlist");
        assert_eq!(report.tool_calls, 0);
        assert_eq!(
            out,
            "I have no filesystem tools, so I cannot read `x`.\nI have no filesystem tools, so I cannot list `.`.\n"
        );
    }

    #[test]
    fn sub_agents_take_turns_with_their_own_model() {
        let f = file(
            "agents:\n  root:\n    model: scripted/large\n    sub_agents: [helper]\n  helper:\n    model: scripted/small\n",
        );
        let (out, report, records) = run_capture(&f, "ask helper hello\nask ghost boo\nask nobody");
        assert_eq!(out.lines().next(), Some("helper: You said: hello"));
        assert!(
            out.contains("I could not ask `ghost`: no such sub-agent."),
            "{out}"
        );
        assert_eq!(report.tool_calls, 3);
        assert_eq!(report.failed_tool_calls, 2);
        let models: Vec<&str> = records
            .iter()
            .filter(|r| r["event"] == "token")
            .map(|r| r["properties"]["model_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            models,
            [
                "scripted/small",
                "scripted/large",
                "scripted/large",
                "scripted/large"
            ]
        );
    }
}
