//! One output stream of a running command (stdout or stderr), as it
//! arrives: read in bounded chunks, shown live line by line (a long line in
//! bounded pieces, secrets hidden even when they span lines or chunks) and
//! captured up to a limit. Memory stays bounded whatever the command
//! prints.
//!
//! The Result keeps the text as the command printed it: a runbook may
//! compare or pass on what a command printed, and every place that shows a
//! Result (tables, JSON, errors, the journal) redacts it there.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::core::output::Output;

/// Bytes read at a time, and the longest piece of a line shown at once.
const CHUNK: usize = 64 * 1024;

/// Where a stream is shown while it runs.
pub struct Live<'a> {
    pub output: &'a Output,
    /// The prefix of each line: where the command runs.
    pub origin: &'a str,
    pub is_stderr: bool,
}

/// What a stream left for the Result.
#[derive(Debug, Default)]
pub struct Captured {
    /// The text as printed, at most `limit` bytes of it.
    pub text: String,
    /// Bytes the command printed, all of them.
    pub printed: u64,
    /// Some of the text is not in `text`.
    pub truncated: bool,
    pub limit: usize,
}

impl Captured {
    /// A stream that holds only opsh's own note (e.g. why a command stopped).
    pub fn note(text: String) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }
}

pub struct Stream<'a> {
    lines: Option<Lines<'a>>,
    /// A character cut off at the end of the last chunk.
    undecoded: Vec<u8>,
    captured: Captured,
}

impl<'a> Stream<'a> {
    /// `live` is `None` for a quiet stream; the Result keeps at most
    /// `limit` bytes.
    pub fn new(live: Option<Live<'a>>, limit: usize) -> Self {
        Self {
            lines: live.map(|live| Lines {
                live,
                redactor: Redactor::default(),
                partial: String::new(),
            }),
            undecoded: Vec::new(),
            captured: Captured {
                limit,
                ..Captured::default()
            },
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let printed = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.captured.printed = self.captured.printed.saturating_add(printed);
        self.undecoded.extend_from_slice(bytes);
        let whole = complete_utf8_len(&self.undecoded);
        let rest = self.undecoded.split_off(whole);
        let text = String::from_utf8_lossy(&self.undecoded).into_owned();
        self.undecoded = rest;
        self.take(&text);
        if let Some(lines) = &mut self.lines {
            let ready = lines.redactor.push(&text);
            lines.show(&ready);
        }
    }

    /// The stream ended: show and keep what was left.
    pub fn finish(mut self) -> Captured {
        let text = String::from_utf8_lossy(&self.undecoded).into_owned();
        self.take(&text);
        if let Some(lines) = &mut self.lines {
            let ready = lines.redactor.push(&text);
            lines.show(&ready);
            let held = lines.redactor.finish();
            lines.show(&held);
            lines.end();
        }
        self.captured
    }

    /// Keep `text` for the Result, up to the limit.
    fn take(&mut self, text: &str) {
        let captured = &mut self.captured;
        let room = captured.limit.saturating_sub(captured.text.len());
        if text.len() <= room {
            captured.text.push_str(text);
        } else {
            captured.text.push_str(&text[..char_floor(text, room)]);
            captured.truncated = true;
        }
    }
}

/// Text on its way to the terminal with every secret hidden, also one that
/// arrives split across chunks: what could be the start of a secret is held
/// back until the next chunk tells whether the rest follows.
#[derive(Default)]
struct Redactor {
    held: String,
}

impl Redactor {
    /// What can be shown now of the text so far.
    fn push(&mut self, text: &str) -> String {
        self.held.push_str(text);
        let text = crate::core::redact::redact(&self.held);
        let secret_start = crate::core::redact::secret_start_len(&text);
        let ready = char_floor(&text, text.len().saturating_sub(secret_start));
        self.held = text[ready..].to_string();
        text[..ready].to_string()
    }

    /// The text ended: the rest, redacted.
    fn finish(&mut self) -> String {
        crate::core::redact::redact(&std::mem::take(&mut self.held))
    }
}

/// Read `reader` to its end through `stream`. A read error ends the stream
/// like its end would: the command's exit status tells what happened.
pub async fn pump(mut reader: impl AsyncRead + Unpin, mut stream: Stream<'_>) -> Captured {
    let mut buf = vec![0; CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => stream.push(buf.get(..n).unwrap_or_default()),
        }
    }
    stream.finish()
}

/// Text shown live, one output line per line of text.
struct Lines<'a> {
    live: Live<'a>,
    redactor: Redactor,
    /// The line begun but not ended yet, shorter than CHUNK.
    partial: String,
}

impl Lines<'_> {
    fn show(&mut self, text: &str) {
        let mut rest = text;
        while let Some((line, after)) = rest.split_once('\n') {
            self.partial.push_str(line);
            self.emit_partial();
            rest = after;
        }
        self.partial.push_str(rest);
        while self.partial.len() >= CHUNK {
            let piece = self.partial.split_off(char_floor(&self.partial, CHUNK));
            self.emit_partial();
            self.partial = piece;
        }
    }

    fn end(&mut self) {
        if !self.partial.is_empty() {
            self.emit_partial();
        }
    }

    fn emit_partial(&mut self) {
        let line = self.partial.trim_end_matches('\r');
        self.live
            .output
            .stream(self.live.origin, line, self.live.is_stderr);
        self.partial.clear();
    }
}

/// The largest char boundary of `text` at or below `at`.
fn char_floor(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The length of `bytes` without a UTF-8 character cut off at its end.
fn complete_utf8_len(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: its first byte is among the last 3
    // if it is incomplete.
    for (back, &byte) in bytes.iter().rev().take(3).enumerate() {
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let width = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if width > back + 1 {
            bytes.len() - (back + 1)
        } else {
            bytes.len()
        };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_at_the_end_waits_for_the_next_chunk() {
        let euro = "€".as_bytes();
        assert_eq!(complete_utf8_len(b"abc"), 3);
        assert_eq!(complete_utf8_len(&[b'a', euro[0], euro[1]]), 1);
        assert_eq!(complete_utf8_len(&[b'a', euro[0], euro[1], euro[2]]), 4);
        assert_eq!(complete_utf8_len(&[0xff, 0xff]), 2);
        assert_eq!(complete_utf8_len(&[]), 0);
    }

    #[test]
    fn the_capture_stops_at_its_limit_and_says_so() {
        let mut stream = Stream::new(None, 10);
        stream.push(&[b'x'; 8]);
        stream.push("ééé".as_bytes());
        let captured = stream.finish();
        assert_eq!(captured.text, "xxxxxxxxé");
        assert_eq!(captured.printed, 14);
        assert!(captured.truncated);
    }

    #[test]
    fn characters_split_across_chunks_survive() {
        let bytes = "naïve €".as_bytes();
        let mut stream = Stream::new(None, 100);
        for byte in bytes {
            stream.push(std::slice::from_ref(byte));
        }
        let captured = stream.finish();
        assert_eq!(captured.text, "naïve €");
        assert!(!captured.truncated);
    }

    #[test]
    fn a_secret_spanning_lines_and_chunks_is_hidden() {
        crate::core::redact::add("alpha-7\nbravo-7\ncharlie-7");
        let mut redactor = Redactor::default();
        let mut shown = String::new();
        for piece in ["start al", "pha-7\nbra", "vo-7\n", "charlie-7\nend\n"] {
            shown += &redactor.push(piece);
        }
        shown += &redactor.finish();
        // Each line is a form of its own, hidden as it completes.
        assert_eq!(shown, "start ***\n***\n***\nend\n");
    }

    #[test]
    fn the_result_keeps_what_was_printed() {
        crate::core::redact::add("kept-secret-unit");
        let mut stream = Stream::new(None, 100);
        stream.push(b"pw kept-secret-unit\n");
        assert_eq!(stream.finish().text, "pw kept-secret-unit\n");
    }
}
