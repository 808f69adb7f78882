//! Progress bars for long CLI operations (shown only on a terminal and without `--json`).

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lightrag_backup::Progress;

/// A terminal progress bar fed by the backup library's [`Progress`] callbacks.
#[derive(Debug)]
pub(crate) struct Bar(ProgressBar);

impl Bar {
    /// A bar on stderr, hidden when stderr is not a terminal or `quiet` is set.
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        Self(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, operation: &str, total_files: u64, total_bytes: u64) {
        let style = ProgressStyle::with_template(
            "{prefix:>8} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.0.set_style(style);
        self.0.set_prefix(operation.to_owned());
        self.0.set_length(total_bytes);
        self.0.set_position(0);
        self.0.set_message(format!("{total_files} files"));
    }

    fn advance(&self, _files: u64, bytes: u64) {
        self.0.inc(bytes);
    }

    fn note(&self, message: &str) {
        self.0.println(message);
    }

    fn end(&self) {
        self.0.finish_and_clear();
    }
}
