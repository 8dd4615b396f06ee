//! Progress on stderr for long work: shown only when stderr is a terminal, never in
//! JSON mode, and only once the work has taken more than a second, so short runs print nothing.

use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before progress appears.
const DELAY: Duration = Duration::from_secs(1);

/// Whether progress may be drawn: stderr is a terminal and the output is not JSON. No colour is
/// used, so `NO_COLOR` needs nothing more.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A byte-count bar for work the CLI drives itself (walking a journal).
pub struct Bar {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: bool,
}

impl Bar {
    /// A bar up to `total` bytes, drawn only if `enabled` and the work outlasts [`DELAY`].
    pub fn new(enabled: bool, total: u64, message: &'static str) -> Bar {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(message);
            bar
        });
        Bar {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    /// Moves the bar to `pos` bytes. Cheap when disabled; callers still call it only every few
    /// thousand events.
    pub fn set(&mut self, pos: u64) {
        if let Some(bar) = &self.bar {
            if !self.shown && self.started.elapsed() >= DELAY {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                self.shown = true;
            }
            bar.set_position(pos);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A spinner for one opaque library call (a full verify, a recovery): it appears after [`DELAY`]
/// and is cleared when this guard drops.
pub struct Spinner {
    done: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Spinner {
    /// Starts the spinner's timer; nothing happens if `enabled` is false.
    pub fn start(enabled: bool, message: String) -> Spinner {
        if !enabled {
            return Spinner {
                done: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            if rx.recv_timeout(DELAY) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                spinner.set_style(style);
            }
            spinner.set_message(message);
            spinner.enable_steady_tick(Duration::from_millis(100));
            let _ = rx.recv();
            spinner.finish_and_clear();
        });
        Spinner {
            done: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
