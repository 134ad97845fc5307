//! The bridge from synchronous Rhai functions to async AWS and SSH calls,
//! and the Ctrl-C handling that cancels the call in flight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use rhai::EvalAltResult;
use tokio::sync::watch;

use crate::core::abort::Abort;

/// Raised once by the first Ctrl-C; a second Ctrl-C exits at once.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<bool>,
}

impl Interrupt {
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when Ctrl-C is pressed.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // The sender lives as long as the runtime; an error means shutdown.
        let _ = rx.wait_for(|set| *set).await;
    }
}

pub struct Runtime {
    rt: tokio::runtime::Runtime,
    interrupt: Interrupt,
    raise: Arc<watch::Sender<bool>>,
    presses: Arc<AtomicUsize>,
}

impl Runtime {
    pub fn new() -> std::io::Result<Arc<Self>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (tx, rx) = watch::channel(false);
        let raise = Arc::new(tx);
        let presses = Arc::new(AtomicUsize::new(0));
        let (tx, count) = (raise.clone(), presses.clone());
        rt.spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if count.fetch_add(1, Ordering::SeqCst) > 0 {
                    eprintln!("\ninterrupted again: exiting now");
                    std::process::exit(crate::core::exit::INTERRUPTED);
                }
                eprintln!("\ninterrupted: stopping (press Ctrl-C again to exit at once)");
                let _ = tx.send(true);
            }
        });
        Ok(Arc::new(Self {
            rt,
            interrupt: Interrupt { rx },
            raise,
            presses,
        }))
    }

    /// Forget a handled Ctrl-C, so the REPL carries on after cancelling a
    /// call.
    pub fn clear_interrupt(&self) {
        self.presses.store(0, Ordering::SeqCst);
        self.raise.send_replace(false);
    }

    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    /// Run `fut` to completion even after Ctrl-C: the short cleanup an
    /// interrupted call owes (e.g. aborting a multipart upload so no parts
    /// stay stored). Bound it with a timeout; a second Ctrl-C still exits.
    pub fn cleanup<T>(&self, fut: impl Future<Output = T>) -> T {
        self.rt.block_on(fut)
    }

    /// Run `fut` to completion, or until Ctrl-C, which drops it (ending
    /// child processes and remote commands it owns) and stops the runbook.
    /// Pass an `async` block: futures such as tokio's `sleep` must be
    /// created inside the runtime.
    pub fn block_on<T>(&self, fut: impl Future<Output = T>) -> Result<T, Box<EvalAltResult>> {
        if self.interrupt.is_set() {
            return Err(Abort::interrupted());
        }
        let interrupt = self.interrupt.clone();
        self.rt.block_on(async move {
            tokio::select! {
                biased;
                _ = interrupt.wait() => Err(Abort::interrupted()),
                value = fut => Ok(value),
            }
        })
    }
}

/// Run every future to the end, polling them together on this task so that
/// dropping the whole (Ctrl-C) drops, and so stops, each one at once.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, slot) in futures.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *slot = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::join_all;

    #[test]
    fn join_all_keeps_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let out = rt.block_on(join_all(
            [30u64, 10, 20]
                .into_iter()
                .map(|ms| async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    ms
                })
                .collect(),
        ));
        assert_eq!(out, vec![30, 10, 20]);
    }
}
