//! The sign-in log: every sign-in attempt and token request Ward decided, in Graph's `signIn`
//! shape, with the conditional access policies applied to it (report-only results included).
//!
//! Records go to a background writer ([`Batches`]) that stores whatever has queued in one
//! transaction, so a sign-in never waits for its log record. A crash can lose records still
//! queued (those of the last moments), never a directory write; [`Batches::flush`] waits until
//! everything queued so far is stored (the Graph read calls it, so a node's own sign-ins are
//! visible at once). Identity Protection's sign-in profiles are written the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use ward_core::sign_in_log::SignInRecord;
use ward_core::store::{Store, StoreResult};

/// Items queued at most; past it new items are dropped (and counted in the log) rather than
/// slowing sign-ins down.
const QUEUE: usize = 20_000;
/// Items stored in one transaction at most.
const BATCH: usize = 1_000;
/// How long the sign-in log's writer waits for more records before storing what it has (unless
/// someone is waiting for them): fewer, larger transactions, so sign-ins do not queue behind
/// commits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(200);

enum Msg<T> {
    Item(Box<T>),
    Flush(oneshot::Sender<()>),
}

/// Stores one batch.
pub type Sink<T> = Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = StoreResult<()>> + Send>> + Send + Sync>;

/// A background writer of `T`s, in batches, through `sink`.
pub struct Batches<T: Send + Clone + 'static> {
    what: &'static str,
    sink: Sink<T>,
    linger: std::time::Duration,
    queue: Mutex<Option<mpsc::Sender<Msg<T>>>>,
}

/// The sign-in log's writer.
pub type SignInLog = Batches<SignInRecord>;

impl SignInLog {
    pub fn new(store: Arc<dyn Store>) -> SignInLog {
        Batches::with_sink(
            "sign-in records",
            LINGER,
            Arc::new(move |batch: Vec<SignInRecord>| {
                let store = store.clone();
                Box::pin(async move { store.record_sign_ins(&batch).await })
            }),
        )
    }
}

impl<T: Send + Clone + 'static> Batches<T> {
    /// A writer that waits up to `linger` for more items before storing a batch.
    pub fn with_sink(what: &'static str, linger: std::time::Duration, sink: Sink<T>) -> Batches<T> {
        Batches { what, sink, linger, queue: Mutex::new(None) }
    }

    /// The writer, started on first use (on the runtime of the caller), and again should it have
    /// stopped.
    fn queue(&self) -> mpsc::Sender<Msg<T>> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.as_ref() {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(write(self.what, self.linger, self.sink.clone(), rx));
                *queue = Some(tx.clone());
                tx
            }
        }
    }

    pub fn record(&self, item: T) {
        if self.queue().try_send(Msg::Item(Box::new(item))).is_err() {
            tracing::warn!(what = self.what, "background writer's queue full: an item was dropped");
        }
    }

    /// Waits until every item queued before this call is stored (or failed to be).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue().send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write<T: Clone>(what: &'static str, linger: std::time::Duration, sink: Sink<T>, mut rx: mpsc::Receiver<Msg<T>>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        let deadline = tokio::time::Instant::now() + linger;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Item(r) => batch.push(*r),
                Msg::Flush(done) => waiting.push(done),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => Some(m),
                // Nothing queued: wait for more until the deadline, unless a reader is waiting.
                Err(_) if waiting.is_empty() => tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten(),
                Err(_) => None,
            };
        }
        // One more try after a moment (a busy or restarting database), then the batch is given up.
        if !batch.is_empty()
            && let Err(first) = sink(batch.clone()).await
        {
            tracing::warn!(error = %first, what, items = batch.len(), "storing a batch failed; trying again");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if let Err(e) = sink(batch.clone()).await {
                tracing::error!(error = %e, what, items = batch.len(), "could not store a batch: it is lost");
            }
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}
