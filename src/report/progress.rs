//! A progress line on the terminal (`rig playbook` on a TTY): the current task, how many hosts
//! have finished it, and the time spent. It wraps the human printer: the line is cleared while
//! the printer writes and drawn again after, so the printed output is unchanged. Only used when
//! stdout is a terminal and `--no-progress` is not given; piped output stays plain lines.

use super::{Event, Sink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

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

/// Wraps a printer with a progress line on stderr.
pub struct ProgressPrinter {
    inner: Box<dyn Sink>,
    bar: ProgressBar,
    state: Mutex<State>,
}

impl ProgressPrinter {
    pub fn new(inner: Box<dyn Sink>) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        ProgressPrinter {
            inner,
            bar,
            state: Mutex::new(State::default()),
        }
    }
}

impl Sink for ProgressPrinter {
    fn emit(&self, event: &Event) {
        if matches!(event, Event::Recap { .. }) {
            self.bar.finish_and_clear();
            self.inner.emit(event);
            return;
        }
        self.bar.suspend(|| self.inner.emit(event));
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
        self.bar.finish_and_clear();
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
