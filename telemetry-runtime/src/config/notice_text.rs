//! The first-run notice's text: what is collected, what is not, and how to opt out (shown by
//! `Client::first_run_notice`).

/// The notice text for `app`.
#[must_use]
pub fn notice_text(app: &str, hide_var: &str) -> String {
    let disable = format!("{app} telemetry disable");
    let width = disable.len().max("TELEMETRY_ENABLED=false".len()) + 2;
    format!(
        "\
{app} collects anonymous usage data to help improve it.

What is collected: command names, tool names, success or failure with a scrubbed error
message, durations, token counts and cost, the {app} version, OS and language, and a random
anonymous id.
What is NOT collected: prompts, responses, file contents or paths, arguments you did not see
listed above, credentials, or anything that identifies you.

Nothing is sent during this first run. To opt out, before the next run:
  {disable:<width$}(remembered)
  {:<width$}(environment)
  {:<width$}(environment, any tool)
Set {hide_var}=1 to hide this notice.
",
        "TELEMETRY_ENABLED=false", "DO_NOT_TRACK=1"
    )
}
