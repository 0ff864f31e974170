//! Interrupting a run (Ctrl-C). The CLI calls [`trigger`] on SIGINT; [`run`](super::run) then
//! stops where it is (the task in flight is abandoned), has every open connection stop the
//! commands in flight on its host ([`Connection::interrupt`](crate::connection::Connection::interrupt):
//! their traps remove the temp files of half-done writes), closes the connections (the SSH
//! control directories on the controller go with them), prints the recap of what ran and
//! returns [`ExitCode::Interrupted`](crate::error::ExitCode::Interrupted) (99, as ansible-playbook).

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

static TRIGGERED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// Asks the running (and any later) run of this process to stop.
pub fn trigger() {
    TRIGGERED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// Whether [`trigger`] was called.
pub fn triggered() -> bool {
    TRIGGERED.load(Ordering::SeqCst)
}

/// Completes once [`trigger`] has been called.
pub async fn wait() {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if triggered() {
            return;
        }
        notified.await;
    }
}
