//! The `filesystem` toolset: tools that do real work on the local filesystem.
//!
//! Tool errors are terse on purpose: their text is what telemetry records for a failed call
//! (`not found`, `permission denied`...), so it never carries a path or file contents. The
//! agent's answer, printed to the user, names the path.

use std::fmt;
use std::io;
use std::path::Path;

/// Files larger than this are not read into an answer.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// An I/O error, by kind.
    Io(io::ErrorKind),
    /// The file is larger than [`MAX_READ_BYTES`].
    TooLarge,
    /// `transfer_task` named an agent that is not a sub-agent of the caller.
    UnknownAgent,
}

impl From<io::Error> for ToolError {
    fn from(e: io::Error) -> Self {
        Self::Io(e.kind())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(io::ErrorKind::NotFound) => f.write_str("not found"),
            Self::Io(io::ErrorKind::PermissionDenied) => f.write_str("permission denied"),
            Self::Io(io::ErrorKind::IsADirectory) => f.write_str("is a directory"),
            Self::Io(io::ErrorKind::NotADirectory) => f.write_str("not a directory"),
            Self::Io(kind) => write!(f, "{kind}"),
            Self::TooLarge => write!(f, "file larger than {MAX_READ_BYTES} bytes"),
            Self::UnknownAgent => f.write_str("no such sub-agent"),
        }
    }
}

impl std::error::Error for ToolError {}

/// Reads a text file (invalid UTF-8 is replaced), for the agent called `agent`.
///
/// Recorded as a `read_file` tool call of `agent` in the current session; an `Err` is a
/// failed call whose error is the terse [`ToolError`] text.
#[cli_telemetry::track_tool(agent = agent)]
pub fn read_file(agent: &str, path: &Path) -> Result<String, ToolError> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(ToolError::Io(io::ErrorKind::IsADirectory));
    }
    if meta.len() > MAX_READ_BYTES {
        return Err(ToolError::TooLarge);
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Lists a directory: entry names sorted, directories with a trailing `/`.
#[cli_telemetry::track_tool(agent = agent)]
pub fn list_directory(agent: &str, dir: &Path) -> Result<Vec<String>, ToolError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_list_do_real_work() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "hello\n").unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let ((), records) = cli_telemetry::testing::capture(|| {
            assert_eq!(
                read_file("root", &dir.path().join("b.txt")).unwrap(),
                "hello\n"
            );
            assert_eq!(
                list_directory("root", dir.path()).unwrap(),
                vec!["a/".to_owned(), "b.txt".to_owned()]
            );
        });
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["properties"]["tool_name"], "read_file");
        assert_eq!(records[0]["properties"]["agent_name"], "root");
        assert_eq!(records[0]["properties"]["is_success"], true);
        assert_eq!(records[1]["properties"]["tool_name"], "list_directory");
    }

    #[test]
    fn failures_are_recorded_without_paths() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("secret-name.txt");
        let ((), records) = cli_telemetry::testing::capture(|| {
            assert_eq!(
                read_file("root", &missing),
                Err(ToolError::Io(io::ErrorKind::NotFound))
            );
            assert_eq!(
                read_file("root", dir.path()),
                Err(ToolError::Io(io::ErrorKind::IsADirectory))
            );
            assert!(list_directory("root", &missing).is_err());
        });
        assert_eq!(records.len(), 3);
        for r in &records {
            assert_eq!(r["properties"]["is_success"], false);
            assert!(!r.to_string().contains("secret-name"));
        }
        assert_eq!(records[0]["properties"]["error"], "not found");
        assert_eq!(records[1]["properties"]["error"], "is a directory");
    }
}
