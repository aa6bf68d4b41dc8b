//! Paging Recent sessions: newest first, keyset cursors.
//!
//! A page is ordered by (start, id), both descending; its `next` cursor names the last row
//! shown, and the next page holds the rows strictly after it in that order. So a cursor stays
//! valid however many sessions arrive meanwhile (new ones are on earlier pages). A cursor is
//! `START.HEXID`: the start in ms and the session id in hex, so any id is safe in a URL.

use crate::span::hex;

/// The most sessions on one page.
pub const MAX_PAGE: usize = 50;

/// Where a page starts: after the session with this start and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Start of the last session shown, ms.
    pub start: i64,
    /// Its id.
    pub id: String,
}

impl Cursor {
    /// The cursor's text.
    ///
    /// ```
    /// use telemetry_collector::sessions::Cursor;
    /// let c = Cursor { start: 1700000000000, id: "s/1".into() };
    /// assert_eq!(c.encode(), "1700000000000.732f31");
    /// assert_eq!(Cursor::parse(&c.encode()), Ok(c));
    /// assert!(Cursor::parse("12.zz").is_err());
    /// ```
    pub fn encode(&self) -> String {
        format!("{}.{}", self.start, hex(self.id.as_bytes()))
    }

    /// Reads a cursor's text; a one-line reason when it is not one.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`cursor` is not a cursor this collector gave: {s:.40}");
        let (start, id) = s.split_once('.').ok_or_else(bad)?;
        let start: i64 = start.parse().map_err(|_| bad())?;
        if id.len() % 2 != 0 || id.len() > 8192 {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> = id
            .as_bytes()
            .chunks_exact(2)
            .map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
            })
            .collect();
        let id = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        // Stored ids never hold a NUL (ingest replaced it), and PostgreSQL refuses one.
        Ok(Self {
            start,
            id: crate::span::no_nul(&id),
        })
    }
}

/// What a page of sessions asks for (`?failed=1&limit=N&cursor=C`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Only sessions that failed.
    pub failed: bool,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: usize,
    /// After this session.
    pub cursor: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            failed: false,
            limit: MAX_PAGE,
            cursor: None,
        }
    }
}

impl ListQuery {
    /// From the query's raw values: `failed` is `1`/`true` (anything else: all sessions),
    /// `limit` is clamped to 1..=[`MAX_PAGE`] (default [`MAX_PAGE`]); a malformed limit or
    /// cursor is an error.
    ///
    /// ```
    /// use telemetry_collector::sessions::ListQuery;
    /// let q = ListQuery::from_params(Some("1"), Some("500"), None).unwrap();
    /// assert_eq!((q.failed, q.limit), (true, 50));
    /// assert!(ListQuery::from_params(None, Some("x"), None).is_err());
    /// ```
    pub fn from_params(
        failed: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, String> {
        let failed = matches!(failed.map(str::trim), Some("1" | "true" | "yes" | "on"));
        let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
            None => MAX_PAGE,
            Some(l) => l
                .parse::<u64>()
                .map_err(|_| format!("`limit` must be a whole number (got {l:.20})"))?
                .clamp(1, MAX_PAGE as u64) as usize,
        };
        let cursor = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(Cursor::parse(c)?),
        };
        Ok(Self {
            failed,
            limit,
            cursor,
        })
    }

    /// The query string of the same page with another cursor (for links).
    pub fn with_cursor(&self, cursor: Option<&str>) -> String {
        let mut q = Vec::new();
        if self.failed {
            q.push("failed=1".to_owned());
        }
        if self.limit != MAX_PAGE {
            q.push(format!("limit={}", self.limit));
        }
        if let Some(c) = cursor {
            q.push(format!("cursor={c}"));
        }
        q.join("&")
    }
}
