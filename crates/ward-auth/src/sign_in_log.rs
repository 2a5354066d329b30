//! The sign-in log: every sign-in attempt and token request Ward decided, in Graph's `signIn`
//! shape, with the conditional access policies applied to it (report-only results included).
//!
//! Records go to a background writer that stores whatever has queued in one transaction, so a
//! sign-in never waits for its log record. A crash can lose records still queued (those of the
//! last moments), never a directory write; [`SignInLog::flush`] waits until everything queued
//! so far is stored (the Graph read calls it, so a node's own sign-ins are visible at once).

use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use ward_core::sign_in_log::SignInRecord;
use ward_core::store::Store;

/// Records queued at most; past it new records are dropped (and counted in the log) rather than
/// slowing sign-ins down.
const QUEUE: usize = 20_000;
/// Records stored in one transaction at most.
const BATCH: usize = 1_000;
/// How long the writer waits for more records before storing what it has (unless someone is
/// waiting for them): fewer, larger transactions, so sign-ins do not queue behind log commits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(200);

enum Msg {
    Record(Box<SignInRecord>),
    Flush(oneshot::Sender<()>),
}

pub struct SignInLog {
    store: Arc<dyn Store>,
    queue: Mutex<Option<mpsc::Sender<Msg>>>,
}

impl SignInLog {
    pub fn new(store: Arc<dyn Store>) -> SignInLog {
        SignInLog { store, queue: Mutex::new(None) }
    }

    /// The writer, started on first use (on the runtime of the caller), and again should it have
    /// stopped.
    fn queue(&self) -> mpsc::Sender<Msg> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.as_ref() {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(write(self.store.clone(), rx));
                *queue = Some(tx.clone());
                tx
            }
        }
    }

    pub fn record(&self, record: SignInRecord) {
        if self.queue().try_send(Msg::Record(Box::new(record))).is_err() {
            tracing::warn!("sign-in log queue full: a record was dropped");
        }
    }

    /// Waits until every record queued before this call is stored (or failed to be).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue().send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => batch.push(*r),
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
        if let Err(first) = store.record_sign_ins(&batch).await {
            tracing::warn!(error = %first, records = batch.len(), "storing sign-in records failed; trying again");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if let Err(e) = store.record_sign_ins(&batch).await {
                tracing::error!(error = %e, records = batch.len(), "could not store sign-in records: they are lost");
            }
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}
