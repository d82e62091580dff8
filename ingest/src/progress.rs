//! Owns progress reporting for long work: a bar with a rate on a terminal, plain log
//! lines (at most one every few seconds) otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Receives progress of a counted job.
pub trait Progress: Send + Sync {
    fn start(&self, what: &str, total: u64);
    fn advance(&self, n: u64);
    fn finish(&self);
}

/// Reports nothing (tests, library use).
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A bar on a terminal, log lines elsewhere.
pub struct Reporter {
    bar: Mutex<Option<ProgressBar>>,
    plain: Mutex<PlainState>,
    terminal: bool,
}

#[derive(Default)]
struct PlainState {
    what: String,
    total: u64,
    done: u64,
    started: Option<Instant>,
    last: Option<Instant>,
}

impl Reporter {
    pub fn new() -> Self {
        Self { bar: Mutex::new(None), plain: Mutex::new(PlainState::default()), terminal: std::io::stderr().is_terminal() }
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Reporter {
    fn start(&self, what: &str, total: u64) {
        if self.terminal {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what.to_string());
            *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
        } else {
            let mut s = self.plain.lock().unwrap_or_else(|p| p.into_inner());
            *s = PlainState { what: what.into(), total, started: Some(Instant::now()), ..Default::default() };
            tracing::info!("{what}: 0/{total}");
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.inc(n);
            return;
        }
        let mut s = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        s.done += n;
        let now = Instant::now();
        if s.last.is_none_or(|l| now - l >= Duration::from_secs(5)) {
            s.last = Some(now);
            let secs = s.started.map_or(0.0, |t| (now - t).as_secs_f64()).max(1e-3);
            tracing::info!("{}: {}/{} ({:.1}/s)", s.what, s.done, s.total, s.done as f64 / secs);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
            return;
        }
        let s = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        if s.started.is_some() {
            let secs = s.started.map_or(0.0, |t| t.elapsed().as_secs_f64()).max(1e-3);
            tracing::info!("{}: {}/{} done ({:.1}/s)", s.what, s.done, s.total, s.done as f64 / secs);
        }
    }
}
