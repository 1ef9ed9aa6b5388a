//! A record counter on stderr for long runs; silent when stderr is not a
//! terminal, so scripts and pipes get clean output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a count, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A counter labelled `what` ("produced", "consumed").
    pub fn new(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{spinner}} {what} {{pos}} records ({{per_sec}})"
            )) {
                bar.set_style(style);
            }
            bar
        });
        Self { bar }
    }

    /// Updates the count.
    pub fn set(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
        }
    }

    /// Clears the line.
    pub fn finish(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
            bar.finish_and_clear();
        }
    }
}
