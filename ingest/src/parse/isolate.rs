//! Owns running PDF text extraction in a child process, so a hostile file can use up
//! only that process: the caller names the program ([`ChildCommand`], e.g. the
//! `reagent` binary's hidden `extract-pdf` command, which calls [`serve_child`]); the
//! child gets the file on stdin and answers one JSON value on stdout. Its address
//! space and CPU time are capped with `setrlimit` before it starts (and on Linux it
//! dies with the thread that started it), it is killed at the wall-clock deadline,
//! and its answer is read with a byte cap. A crash, a signal
//! or an unreadable answer is a [`ParseError`] for that file, never the caller's.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::limits::{ExtractLimits, Limit};
use super::ParseError;

/// Where text extraction of PDFs runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Extractor {
    /// In the calling process: only the byte and page caps apply (no time or memory
    /// bound). For tests and tools that parse trusted files.
    #[default]
    InProcess,
    /// In a child process started from this command, with every limit applied.
    Child(ChildCommand),
}

/// The program (and its leading arguments) that runs [`serve_child`]. The limits are
/// appended as `--max-expanded-bytes N --max-text-bytes N --max-pages N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// The child's answer on stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Pages(Vec<String>),
    NotPdf(String),
    NoText,
    OverLimit { limit: Limit, detail: String },
    Failed(String),
}

/// Most bytes of stderr kept to explain a failed child.
const STDERR_KEPT: usize = 4096;
/// How often the exit of a child that closed its stdout is polled.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// The most bytes of answer the parent reads: the text cap, doubled for JSON escapes,
/// plus room for the page separators and the envelope.
fn answer_cap(limits: &ExtractLimits) -> u64 {
    limits
        .max_text_bytes
        .saturating_mul(2)
        .saturating_add(limits.max_pages.saturating_mul(8))
        .saturating_add(64 * 1024)
}

/// Child side: read a PDF from `input`, extract it within `limits` (byte and page
/// caps; the parent set the time and memory ones), write the answer to `output`.
pub fn serve_child(limits: &ExtractLimits, mut input: impl Read, mut output: impl Write) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let answer = match super::pdf::extract_pages(&bytes, limits) {
        Ok(pages) => Answer::Pages(pages),
        Err(ParseError::NotPdf(m)) => Answer::NotPdf(m),
        Err(ParseError::PdfNoText) => Answer::NoText,
        Err(ParseError::OverLimit { limit, detail }) => Answer::OverLimit { limit, detail },
        Err(other) => Answer::Failed(other.to_string()),
    };
    let mut text = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
    if text.len() as u64 > answer_cap(limits) {
        let detail = format!("the extracted text needs more than {} bytes to send", answer_cap(limits));
        text = serde_json::to_vec(&Answer::OverLimit { limit: Limit::MaxTextBytes, detail }).map_err(std::io::Error::other)?;
    }
    output.write_all(&text)?;
    output.flush()
}

/// The arguments [`serve_child`]'s command line carries, in the order this module
/// appends them.
pub fn limit_args(limits: &ExtractLimits) -> Vec<String> {
    vec![
        "--max-expanded-bytes".into(),
        limits.max_expanded_bytes.to_string(),
        "--max-text-bytes".into(),
        limits.max_text_bytes.to_string(),
        "--max-pages".into(),
        limits.max_pages.to_string(),
    ]
}

/// Parent side: extract `bytes` (a PDF) in a child started from `command`.
pub fn extract_pdf(command: &ChildCommand, bytes: &[u8], limits: &ExtractLimits) -> Result<Vec<String>, ParseError> {
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args)
        .args(limit_args(limits))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    confine(&mut cmd, limits);
    let mut child = cmd
        .spawn()
        .map_err(|e| ParseError::Extraction(format!("cannot start {}: {e}", command.program.display())))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill(&mut child);
        return Err(ParseError::Extraction("the child process has no pipes".into()));
    };
    let deadline = Instant::now() + limits.timeout;
    let cap = answer_cap(limits);
    std::thread::scope(|scope| {
        // The threads end when the child does: its pipes close.
        scope.spawn(move || {
            // A child that dies early breaks the pipe; its status says why.
            let _ = stdin.write_all(bytes);
        });
        let stderr_tail = scope.spawn(move || read_capped(stderr, STDERR_KEPT as u64).0);
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(read_capped(stdout, cap));
        });
        let ended = match rx.recv_timeout(limits.timeout) {
            Ok((answer, false)) => match wait_until(&mut child, deadline) {
                Some(status) => Ended::Exited(status, answer),
                None => Ended::TimedOut,
            },
            Ok((_, true)) => Ended::AnswerTooLong,
            Err(_) => Ended::TimedOut,
        };
        if !matches!(ended, Ended::Exited(..)) {
            kill(&mut child);
        }
        let stderr = String::from_utf8_lossy(&stderr_tail.join().unwrap_or_default()).into_owned();
        interpret(ended, &stderr, limits)
    })
}

enum Ended {
    Exited(ExitStatus, Vec<u8>),
    TimedOut,
    AnswerTooLong,
}

fn interpret(ended: Ended, stderr: &str, limits: &ExtractLimits) -> Result<Vec<String>, ParseError> {
    let secs = limits.timeout.as_secs_f64();
    let over = |limit, detail| Err(ParseError::OverLimit { limit, detail });
    let (status, answer) = match ended {
        Ended::TimedOut => return over(Limit::ExtractTimeoutSecs, format!("text extraction did not finish within {secs} s")),
        Ended::AnswerTooLong => {
            return over(Limit::MaxTextBytes, format!("the extracted text needs more than {} bytes to send", answer_cap(limits)));
        }
        Ended::Exited(status, answer) => (status, answer),
    };
    if status.success() {
        return match serde_json::from_slice::<Answer>(&answer) {
            Ok(Answer::Pages(pages)) => Ok(pages),
            Ok(Answer::NotPdf(m)) => Err(ParseError::NotPdf(m)),
            Ok(Answer::NoText) => Err(ParseError::PdfNoText),
            Ok(Answer::OverLimit { limit, detail }) => Err(ParseError::OverLimit { limit, detail }),
            Ok(Answer::Failed(m)) => Err(ParseError::Extraction(m)),
            Err(e) => Err(ParseError::Extraction(format!("unreadable answer from the extractor: {e}"))),
        };
    }
    let memory = stderr.contains("memory allocation") || stderr.contains("out of memory") || stderr.contains("Cannot allocate memory");
    if memory {
        let mib = limits.max_memory_bytes / (1024 * 1024);
        return over(Limit::ExtractMemoryMb, format!("text extraction needed more than {mib} MiB of memory"));
    }
    if cpu_exhausted(&status) {
        return over(Limit::ExtractTimeoutSecs, format!("text extraction used more than {secs} s of CPU"));
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    Err(ParseError::Extraction(format!("the extractor process failed ({status}): {last}")))
}

/// Reads at most `cap` bytes; `true` when there was more. Read errors end the answer.
fn read_capped(from: impl Read, cap: u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut limited = from.take(cap.saturating_add(1));
    let _ = limited.read_to_end(&mut out);
    let over = out.len() as u64 > cap;
    out.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    if over {
        // Drain the rest so a child writing its stderr never blocks on a full pipe.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
    }
    (out, over)
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(EXIT_POLL),
            _ => return None,
        }
    }
}

fn kill(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // The child leads its own process group (see `confine`): anything it started
        // goes too, so no stray process keeps the pipes open.
        // SAFETY: kill(2) takes plain integers; the group is the child's, not yet reaped.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(unix)]
fn cpu_exhausted(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    // RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one.
    matches!(status.signal(), Some(libc::SIGXCPU) | Some(libc::SIGKILL))
}

#[cfg(not(unix))]
fn cpu_exhausted(_status: &ExitStatus) -> bool {
    false
}

/// Caps the child's address space and CPU time before it runs its first instruction,
/// in a process group of its own.
#[cfg(unix)]
fn confine(cmd: &mut Command, limits: &ExtractLimits) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let memory = limits.max_memory_bytes as libc::rlim_t;
    let cpu = limits.timeout.as_secs().max(1) as libc::rlim_t;
    let set = move |resource, soft: libc::rlim_t, hard: libc::rlim_t| {
        let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    };
    // SAFETY: the closure runs between fork and exec; it only calls setrlimit and prctl,
    // which are async-signal-safe, and neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || {
            set(libc::RLIMIT_AS, memory, memory)?;
            set(libc::RLIMIT_CPU, cpu, cpu + 1)?;
            // A child outliving a killed parent would run on to its CPU limit for nobody.
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Elsewhere only the wall-clock deadline and the answer cap apply.
#[cfg(not(unix))]
fn confine(_cmd: &mut Command, _limits: &ExtractLimits) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> ChildCommand {
        ChildCommand { program: "/bin/sh".into(), args: vec!["-c".into(), script.into(), "sh".into()] }
    }

    fn limits(timeout_ms: u64) -> ExtractLimits {
        ExtractLimits { timeout: Duration::from_millis(timeout_ms), max_text_bytes: 1000, ..ExtractLimits::default() }
    }

    #[test]
    fn a_child_past_its_deadline_is_killed_and_named() {
        // The shell forks `sleep`, which holds the pipes too: the whole group is killed.
        let err = extract_pdf(&sh("sleep 30; echo late"), b"%PDF-", &limits(300)).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::ExtractTimeoutSecs, .. }), "{err}");
        assert!(err.to_string().contains("ingest.extract_timeout_secs"), "{err}");
    }

    #[test]
    fn an_answer_past_the_cap_is_refused() {
        let err = extract_pdf(&sh("head -c 1000000 /dev/zero"), b"%PDF-", &limits(20_000)).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxTextBytes, .. }), "{err}");
    }

    #[test]
    fn a_crash_is_an_error_for_the_file() {
        let err = extract_pdf(&sh("cat >/dev/null; echo boom >&2; kill -SEGV $$"), b"%PDF-", &limits(20_000)).unwrap_err();
        assert!(matches!(err, ParseError::Extraction(ref m) if m.contains("boom")), "{err}");
        let err = extract_pdf(&sh("cat >/dev/null; echo '{\"pages\": 3'"), b"%PDF-", &limits(20_000)).unwrap_err();
        assert!(matches!(err, ParseError::Extraction(_)), "{err}");
    }

    #[test]
    fn the_child_runs_under_the_memory_and_cpu_caps() {
        let l = ExtractLimits { max_memory_bytes: 64 * 1024 * 1024, ..limits(7_000) };
        // The shell reports its limits on stderr; the failure message carries the last line.
        let err = extract_pdf(&sh("cat >/dev/null; ulimit -v >&2; exit 3"), b"%PDF-", &l).unwrap_err();
        assert!(err.to_string().ends_with(": 65536"), "address space in KiB: {err}");
        let err = extract_pdf(&sh("cat >/dev/null; ulimit -t >&2; exit 3"), b"%PDF-", &l).unwrap_err();
        assert!(err.to_string().ends_with(": 7"), "CPU seconds: {err}");
    }

    #[test]
    fn an_allocation_failure_is_reported_as_the_memory_limit() {
        let cmd = sh("cat >/dev/null; echo 'memory allocation of 1048576 bytes failed' >&2; kill -ABRT $$");
        let err = extract_pdf(&cmd, b"%PDF-", &limits(20_000)).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::ExtractMemoryMb, .. }), "{err}");
        assert!(err.to_string().contains("1024 MiB"), "{err}");
    }

    #[test]
    fn a_child_answer_comes_back() {
        let cmd = sh("cat >/dev/null; printf '{\"pages\":[\"one\",\"two\"]}'");
        assert_eq!(extract_pdf(&cmd, b"%PDF-", &limits(20_000)).unwrap(), ["one", "two"]);
        let cmd = sh(r#"cat >/dev/null; printf '{"over_limit":{"limit":"max_pages","detail":"9 pages"}}'"#);
        let err = extract_pdf(&cmd, b"%PDF-", &limits(20_000)).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxPages, .. }), "{err}");
    }

    #[test]
    fn the_child_side_refuses_a_bomb_by_its_expansion() {
        let pdf = super::super::limits::tests::pdf_with_stream("Text", 2_000_000);
        let l = ExtractLimits { max_expanded_bytes: 1_000_000, ..ExtractLimits::default() };
        let mut out = Vec::new();
        serve_child(&l, &pdf[..], &mut out).unwrap();
        let answer: Answer = serde_json::from_slice(&out).unwrap();
        assert!(matches!(answer, Answer::OverLimit { limit: Limit::MaxExpandedBytes, .. }), "{answer:?}");
    }
}
