//! Where a run's events go: the printer chosen by `--output` (or `RIG_OUTPUT=json`), plus the
//! JUnit report of `--junit FILE`.

use super::{OutputFormat, RunOptions};
use crate::report::{HumanPrinter, JsonPrinter, JunitWriter, ProgressPrinter, Sink, Tee};
use std::io::IsTerminal;
use std::sync::Arc;

/// The sinks of one run.
pub struct Sinks {
    pub sink: Arc<dyn Sink>,
    junit: Option<Arc<JunitWriter>>,
}

/// A sink shared with [`Sinks`] (so the JUnit file can be finished after the run).
struct Shared<S: Sink>(Arc<S>);

impl<S: Sink> Sink for Shared<S> {
    fn emit(&self, event: &crate::report::Event) {
        self.0.emit(event);
    }
}

/// The output format: `--output`, else `RIG_OUTPUT=json`, else human.
pub fn format(o: &RunOptions) -> OutputFormat {
    o.output.unwrap_or_else(|| {
        if std::env::var("RIG_OUTPUT").is_ok_and(|v| v == "json") {
            OutputFormat::Json
        } else {
            OutputFormat::Human
        }
    })
}

impl Sinks {
    pub fn new(o: &RunOptions, verbosity: u8) -> Self {
        let printer: Box<dyn Sink> = match format(o) {
            OutputFormat::Json => Box::new(JsonPrinter::new(Box::new(std::io::stdout()))),
            OutputFormat::Human => {
                if !o.no_progress
                    && std::io::stdout().is_terminal()
                    && std::io::stderr().is_terminal()
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
                {
                    Box::new(ProgressPrinter::stdio(verbosity))
                } else {
                    Box::new(HumanPrinter::stdio(verbosity))
                }
            }
        };
        let junit = o.junit.as_ref().map(|p| Arc::new(JunitWriter::new(p)));
        let sink: Arc<dyn Sink> = match &junit {
            Some(j) => Arc::new(Tee(vec![printer, Box::new(Shared(j.clone()))])),
            None => Arc::from(printer),
        };
        // Every printer sees the events with the secrets masked (README "Secrets").
        let sink: Arc<dyn Sink> = Arc::new(crate::report::redact::Redacting(sink));
        Sinks { sink, junit }
    }

    /// Writes the JUnit report if the run ended without a recap (an error, Ctrl-C).
    pub fn finish(&self) {
        if let Some(j) = &self.junit {
            if let Err(e) = j.finish() {
                eprintln!("[WARNING]: cannot write the JUnit report: {e}");
            }
        }
    }
}
