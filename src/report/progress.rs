//! A progress line on the terminal (`rig playbook` on a TTY): the current task, how many hosts
//! have finished it (and which are still running when few are left), and the time spent. It
//! wraps the human printer: the line is cleared while the printer writes and drawn again after,
//! once per burst of results, so the printed output is unchanged and lines never interleave. Only used when
//! stdout is a terminal and `--no-progress` is not given; piped output stays plain lines.

use super::{Event, Sink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    task: Option<String>,
    /// Hosts that finished the current task (told by `host_done` as each ends, or by their
    /// result event).
    done: HashSet<String>,
    /// Hosts that have reported a result in this play, in the order they did (the hosts of the
    /// next task).
    play_hosts: Vec<String>,
    total: Option<usize>,
}

/// Hosts still running are named when at most this many are left.
const NAME_PENDING: usize = 3;

impl State {
    fn message(&self) -> String {
        let Some(task) = &self.task else {
            return String::new();
        };
        let done = self.done.len();
        match self.total {
            Some(t) if t >= done => {
                let pending: Vec<&str> = self
                    .play_hosts
                    .iter()
                    .filter(|h| !self.done.contains(*h))
                    .map(String::as_str)
                    .collect();
                if !pending.is_empty() && pending.len() <= NAME_PENDING && done > 0 {
                    format!(
                        "{task}  {done}/{t} hosts, waiting for {}",
                        pending.join(", ")
                    )
                } else {
                    format!("{task}  {done}/{t} hosts")
                }
            }
            _ => format!("{task}  {done} hosts done"),
        }
    }

    fn host_done(&mut self, host: &str) {
        self.done.insert(host.to_string());
    }

    fn on(&mut self, event: &Event) {
        match event {
            Event::PlayStart { .. } => {
                self.play_hosts.clear();
                self.task = None;
                self.total = None;
                self.done.clear();
            }
            Event::TaskStart { task } => {
                self.task = Some(format!("{} [{}]", task.prefix, task.name.trim()));
                self.done.clear();
                self.total = (!self.play_hosts.is_empty()).then_some(self.play_hosts.len());
            }
            Event::HostResult(r) => {
                self.done.insert(r.host.clone());
                if !self.play_hosts.contains(&r.host) {
                    self.play_hosts.push(r.host.clone());
                }
            }
            _ => {}
        }
    }
}

/// Output of the wrapped printer held back while a burst of results is printed, so the
/// progress line is cleared once before the burst and drawn once after it (not between every
/// line, which flickers on a terminal).
#[derive(Default)]
struct Pending {
    chunks: Vec<(Stream, Vec<u8>)>,
    since: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// A writer into [`Pending`] (the human printer's stdout or stderr).
struct PendingWriter {
    stream: Stream,
    pending: Arc<Mutex<Pending>>,
}

impl Write for PendingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = self
            .pending
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        p.since.get_or_insert_with(Instant::now);
        match p.chunks.last_mut() {
            Some((s, bytes)) if *s == self.stream => bytes.extend_from_slice(buf),
            _ => p.chunks.push((self.stream, buf.to_vec())),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Held output, written under the bar (one clear, one redraw).
struct Held {
    pending: Arc<Mutex<Pending>>,
    /// Taken while chunks are written, so two flushes never reorder them.
    writing: Mutex<()>,
}

impl Held {
    fn flush(&self, bar: Option<&ProgressBar>) {
        let Ok(_w) = self.writing.lock() else { return };
        let chunks = match self.pending.lock() {
            Ok(mut p) => {
                p.since = None;
                std::mem::take(&mut p.chunks)
            }
            Err(_) => return,
        };
        if chunks.is_empty() {
            return;
        }
        let write = || {
            for (stream, bytes) in &chunks {
                let _ = match stream {
                    Stream::Out => std::io::stdout().lock().write_all(bytes),
                    Stream::Err => std::io::stderr().lock().write_all(bytes),
                };
            }
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }

    /// Whether output has waited longer than `age`.
    fn older_than(&self, age: Duration) -> bool {
        self.pending
            .lock()
            .is_ok_and(|p| p.since.is_some_and(|t| t.elapsed() >= age))
    }
}

/// Wraps a printer with a progress line on stderr.
pub struct ProgressPrinter {
    inner: Box<dyn Sink>,
    bar: ProgressBar,
    state: Mutex<State>,
    /// With [`ProgressPrinter::stdio`]: the printer's output, held during bursts.
    held: Option<Arc<Held>>,
    stop: Arc<AtomicBool>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Results of one task arrive together (in inventory order, once every host is done): their
/// output is held and written at once.
fn is_burst(event: &Event) -> bool {
    matches!(
        event,
        Event::HostResult(_) | Event::ItemResult(_) | Event::Diff(_) | Event::Error { .. }
    )
}

impl ProgressPrinter {
    pub fn new(inner: Box<dyn Sink>) -> Self {
        // Hidden until the first task: no empty spinner while the inventory loads.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        ProgressPrinter {
            inner,
            bar,
            state: Mutex::new(State::default()),
            held: None,
            stop: Arc::new(AtomicBool::new(false)),
            flusher: Mutex::new(None),
        }
    }

    /// The human printer on stdout/stderr (colour unless `NO_COLOR`/`ANSIBLE_NOCOLOR`) under a
    /// progress line; a burst of results is written at once, and held output never waits more
    /// than ~0.1 s.
    pub fn stdio(verbosity: u8) -> Self {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let color =
            std::env::var_os("NO_COLOR").is_none() && std::env::var_os("ANSIBLE_NOCOLOR").is_none();
        let human = super::HumanPrinter::new(
            Box::new(PendingWriter {
                stream: Stream::Out,
                pending: pending.clone(),
            }),
            Box::new(PendingWriter {
                stream: Stream::Err,
                pending: pending.clone(),
            }),
            color,
            verbosity,
        );
        let mut p = Self::new(Box::new(human));
        let held = Arc::new(Held {
            pending,
            writing: Mutex::new(()),
        });
        let (h, bar, stop) = (held.clone(), p.bar.clone(), p.stop.clone());
        let flusher = std::thread::Builder::new()
            .name("rig-progress".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if h.older_than(Duration::from_millis(100)) {
                        h.flush(Some(&bar));
                    }
                }
            })
            .ok();
        p.held = Some(held);
        p.flusher = Mutex::new(flusher);
        p
    }

    fn show(&self) {
        if self.bar.is_hidden() {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.flusher.lock().ok().and_then(|mut f| f.take()) {
            let _ = h.join();
        }
        if let Some(held) = &self.held {
            held.flush(Some(&self.bar));
        }
        self.bar.finish_and_clear();
    }
}

impl Sink for ProgressPrinter {
    fn emit(&self, event: &Event) {
        if matches!(event, Event::Recap { .. }) {
            self.finish();
            self.inner.emit(event);
            if let Some(held) = &self.held {
                held.flush(None);
            }
            return;
        }
        if matches!(event, Event::TaskStart { .. }) {
            self.show();
        }
        match &self.held {
            Some(held) => {
                self.inner.emit(event);
                if !is_burst(event) {
                    held.flush(Some(&self.bar));
                }
            }
            None => self.bar.suspend(|| self.inner.emit(event)),
        }
        if let Ok(mut st) = self.state.lock() {
            st.on(event);
            self.bar.set_message(st.message());
        }
    }

    fn host_done(&self, host: &str) {
        self.inner.host_done(host);
        if let Ok(mut st) = self.state.lock() {
            st.host_done(host);
            self.bar.set_message(st.message());
        }
    }
}

impl Drop for ProgressPrinter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ResultKind, TaskInfo, TaskResult};

    fn task(name: &str) -> TaskInfo {
        TaskInfo {
            uid: 1,
            name: name.into(),
            action: "debug".into(),
            prefix: "TASK",
            is_loop: false,
            is_include: false,
            delegate_to: None,
            check_mode: false,
            path: String::new(),
        }
    }

    fn result(host: &str) -> Event {
        Event::HostResult(TaskResult {
            task: task("t"),
            host: host.into(),
            kind: ResultKind::Ok,
            result: Default::default(),
            ignore_errors: false,
        })
    }

    #[test]
    fn counts_hosts_done_against_the_hosts_of_the_play() {
        let mut st = State::default();
        st.on(&Event::PlayStart {
            name: "p".into(),
            check_mode: false,
            free: false,
        });
        st.on(&Event::TaskStart { task: task("one") });
        assert_eq!(st.message(), "TASK [one]  0 hosts done");
        st.on(&result("a"));
        st.on(&result("b"));
        assert_eq!(st.message(), "TASK [one]  2 hosts done");
        st.on(&Event::TaskStart { task: task("two") });
        st.on(&result("a"));
        assert_eq!(st.message(), "TASK [two]  1/2 hosts, waiting for b");
    }

    #[test]
    fn counts_hosts_as_they_finish_before_their_results_are_printed() {
        let mut st = State::default();
        st.on(&Event::TaskStart { task: task("one") });
        for h in ["a", "b", "c", "d", "e"] {
            st.on(&result(h));
        }
        st.on(&Event::TaskStart { task: task("slow") });
        assert_eq!(st.message(), "TASK [slow]  0/5 hosts");
        st.host_done("b");
        assert_eq!(st.message(), "TASK [slow]  1/5 hosts");
        st.host_done("c");
        st.host_done("e");
        assert_eq!(st.message(), "TASK [slow]  3/5 hosts, waiting for a, d");
        // The result events that follow do not count the hosts twice.
        st.on(&result("b"));
        st.host_done("a");
        st.host_done("d");
        assert_eq!(st.message(), "TASK [slow]  5/5 hosts");
    }
}
