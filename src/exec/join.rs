//! Waiting for many futures at once (the host fan-out of one task).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls every future concurrently; returns their outputs in input order.
pub async fn join_all<'a, T: Send + 'a>(futs: Vec<Boxed<'a, T>>) -> Vec<T> {
    JoinAll {
        futs: futs.into_iter().map(Some).collect(),
        out: Vec::new(),
    }
    .await
}

struct JoinAll<'a, T> {
    futs: Vec<Option<Boxed<'a, T>>>,
    out: Vec<Option<T>>,
}

impl<T> Unpin for JoinAll<'_, T> {}

impl<T> Future for JoinAll<'_, T> {
    type Output = Vec<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        if this.out.len() < this.futs.len() {
            this.out.resize_with(this.futs.len(), || None);
        }
        let mut pending = false;
        for (i, slot) in this.futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        this.out[i] = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.out.drain(..).flatten().collect())
        }
    }
}
