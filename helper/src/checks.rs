//! Checks made before a bake starts, and what the CLI echoes back of a prompt: say
//! what is wrong in the user's terms, before the helper is started, and never
//! print a prompt raw (a terminal escape in a prompt must not reach the terminal,
//! and a 100 kB prompt is not worth 100 kB of log).

use std::path::Path;

use anyhow::{bail, Result};
use faurge_io::Audio;
use faurge_protocol::BakeResult;

/// Shortest audio a bake can use, ms: the audio encoder needs a few log-mel frames
/// (25 ms window, 10 ms hop) to give an embedding. Measured with the shipped models
/// on speech: 60 ms gave non-finite values, 70 ms worked; 100 ms leaves a margin.
pub const MIN_AUDIO_MS: u32 = 100;

/// Most characters of a prompt echoed back; the rest is counted, not printed.
pub const MAX_ECHO_CHARS: usize = 200;

/// Refuses audio shorter than [`MIN_AUDIO_MS`]; `what` names it ("the input").
///
/// # Errors
/// `… is 40 ms long; at least 100 ms of audio is needed`.
pub fn long_enough(audio: &Audio, what: &str, path: &Path) -> Result<()> {
    let ms = audio.duration_s() * 1000.0;
    if ms < f64::from(MIN_AUDIO_MS) {
        bail!(
            "{what} \"{}\" is {ms:.0} ms long; at least {MIN_AUDIO_MS} ms of audio is needed",
            path.display()
        );
    }
    Ok(())
}

/// `text` fit for a terminal line: control characters (escape sequences,
/// carriage returns, newlines) dropped, and at most [`MAX_ECHO_CHARS`] characters
/// followed by how many more there were.
pub fn echo(text: &str) -> String {
    let clean: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    if clean.len() <= MAX_ECHO_CHARS {
        return clean.into_iter().collect();
    }
    let head: String = clean[..MAX_ECHO_CHARS].iter().collect();
    format!("{head}… ({} more characters)", clean.len() - MAX_ECHO_CHARS)
}

/// A copy of `result` whose prompt texts are [`echo`]ed, for printing.
pub fn for_display(result: &BakeResult) -> BakeResult {
    let mut r = result.clone();
    let p = &mut r.report.prompt;
    p.original = echo(&p.original);
    p.understood = echo(&p.understood);
    for e in &mut p.edits {
        e.from = echo(&e.from);
        e.to = echo(&e.to);
    }
    r
}

/// When the sanitizer replaced a non-empty prompt with the anchor prompt and it was
/// not one of the vague requests it knows ("fix my mic"): a line saying that the
/// prompt was not understood, and what was used instead.
pub fn not_understood(result: &BakeResult) -> Option<String> {
    let p = &result.report.prompt;
    let known = faurge_vocabulary::sanitizer::Sanitizer::embedded().ok();
    let vague = p.edits.iter().any(|e| {
        e.kind == faurge_protocol::EditKind::Vague
            && known.as_ref().is_some_and(|s| s.is_vague_prompt(&e.from))
    });
    (p.anchor && !vague && !p.original.trim().is_empty()).then(|| {
        format!(
            "Faurge did not understand a sound to aim for in \"{}\" (it understands English \
             words such as warm, boomy, bright, radio); it used \"{}\" instead.",
            echo(&p.original),
            echo(&p.understood)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_drops_escapes_and_shortens() {
        assert_eq!(echo("warm\u{1b}[2J\r\nvoice"), "warm[2Jvoice");
        let long = "a".repeat(100_000);
        let e = echo(&long);
        assert!(e.chars().count() < MAX_ECHO_CHARS + 40, "{}", e.len());
        assert!(e.ends_with("(99800 more characters)"), "{e}");
    }
}
