//! The embedded queue: SQS standard-queue semantics in a SQLite file, the zero-setup default.
//!
//! It exists so the demo and single-machine installs need nothing but a file, and so the daemon's
//! tests run without an emulator. It keeps SQS's contract rather than inventing one: at-least-once
//! delivery, a visibility timeout per receive, a fresh receipt per delivery, receive counts, and an
//! optional redrive to `<name>-dlq` after `max_receive_count` deliveries.
//!
//! Several named queues share one file (one table keyed by queue name) and several processes may
//! open the same file: the database runs in WAL mode with a busy timeout, and a receive claims its
//! messages with a single `UPDATE ... RETURNING`, so two consumers never get the same delivery.
//! Use a file of its own for the queue: its migrations are tracked in sqlx's table, which a second
//! migrator (the state store's) in the same file would reject.
//!
//! Bounds: SQS keeps a message at most 14 days; a file on the daemon's volume must not grow
//! without limit either when nobody consumes it (the demo, a consumer that is down). Messages
//! older than `retention` are dropped, and past `max_bytes` of bodies the oldest go first, each
//! time with a warning in the log and a count in `dropped_total` (exported as a metric). Checked
//! after a send, at most once a minute.
//!
//! Receipts: only the latest receipt of a message acts on it. Deleting with an older one (the
//! message was received again since) succeeds and does nothing, so a slow consumer never deletes
//! another consumer's claim; extending with an older one fails with [`QueueError::Permanent`].
//! (SQS documents the same for deletes, "the request succeeds, but the message might not be
//! deleted".)

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::RngCore;
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::QueueError;
use crate::limits::{check_batch_len, MessageLimits};
use crate::message::{OutgoingMessage, QueueDepth, ReceiptHandle, ReceivedMessage, SendOutcome};
use crate::{MessageQueue, MAX_BATCH, MAX_RECEIVE_WAIT, MAX_VISIBILITY_TIMEOUT};

/// How often a long poll re-reads the file for messages sent by another process.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The most deliveries a redrive policy may allow, as on SQS.
const MAX_RECEIVE_COUNT_LIMIT: u32 = 1_000;

/// SQS's longest message retention, the embedded queue's default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// The default cap on the bodies one embedded queue keeps: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// How often the bounds are checked, at most.
const BOUNDS_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The name of the dead-letter queue of `queue_name` in the same file.
pub(crate) fn dead_letter_queue_name(queue_name: &str) -> String {
    format!("{queue_name}-dlq")
}

/// How an [`EmbeddedQueue`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedQueueOptions {
    /// After this many deliveries without a delete, the next receive moves the message to the queue
    /// `<name>-dlq` in the same file instead of delivering it, like an SQS redrive policy. `None`
    /// keeps redelivering forever. Between 1 and 1,000.
    pub max_receive_count: Option<u32>,
    /// The message size limit, checked as SQS would.
    pub limits: MessageLimits,
    /// Messages older than this are dropped (SQS's `MessageRetentionPeriod`; default 14 days).
    pub retention: Duration,
    /// Past this many bytes of bodies in the queue, the oldest messages are dropped.
    pub max_bytes: u64,
}

impl Default for EmbeddedQueueOptions {
    fn default() -> Self {
        EmbeddedQueueOptions {
            max_receive_count: None,
            limits: MessageLimits::default(),
            retention: DEFAULT_RETENTION,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What the clones of one queue share about its bounds.
#[derive(Debug, Default)]
struct Bounds {
    last_checked: Mutex<Option<std::time::Instant>>,
    dropped: AtomicU64,
}

/// A named queue in a SQLite file. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    pool: SqlitePool,
    path: PathBuf,
    queue_name: String,
    options: EmbeddedQueueOptions,
    /// Wakes this process's long polls on the queue when a message is sent in this process.
    sent: Arc<Notify>,
    bounds: Arc<Bounds>,
}

impl EmbeddedQueue {
    /// Opens (creating if needed) the file at `path` and the queue `queue_name` in it, applying the
    /// migrations in `migrations/embedded-queue`.
    pub async fn open(
        path: &Path,
        queue_name: &str,
        options: EmbeddedQueueOptions,
    ) -> Result<Self, QueueError> {
        const OPERATION: &str = "open";
        validate_queue_name(queue_name)
            .map_err(|message| QueueError::permanent(queue_name, OPERATION, message))?;
        options
            .limits
            .validate()
            .map_err(|message| QueueError::permanent(queue_name, OPERATION, message))?;
        if let Some(max_receive_count) = options.max_receive_count {
            if !(1..=MAX_RECEIVE_COUNT_LIMIT).contains(&max_receive_count) {
                return Err(QueueError::permanent(
                    queue_name,
                    OPERATION,
                    format!("max_receive_count is {max_receive_count}, it must be between 1 and {MAX_RECEIVE_COUNT_LIMIT}"),
                ));
            }
        }
        // Opened one process at a time: see gha-ingest-sqlite for the race this avoids.
        let pool = gha_ingest_sqlite::open_pool(path, &MIGRATIONS)
            .await
            .map_err(|error| open_error(queue_name, error))?;
        let canonical_path = tokio::fs::canonicalize(path)
            .await
            .unwrap_or_else(|_| path.to_path_buf());
        let sent = send_notifier(&canonical_path, queue_name);
        Ok(EmbeddedQueue {
            pool,
            path: canonical_path,
            queue_name: queue_name.to_owned(),
            options,
            sent,
            bounds: Arc::default(),
        })
    }

    /// The dead-letter queue `<name>-dlq` in the same file, sharing this queue's connections; it
    /// has no redrive of its own. Exists whether or not `max_receive_count` is set.
    pub fn dead_letter_queue(&self) -> EmbeddedQueue {
        let dlq_name = dead_letter_queue_name(&self.queue_name);
        EmbeddedQueue {
            pool: self.pool.clone(),
            path: self.path.clone(),
            sent: send_notifier(&self.path, &dlq_name),
            queue_name: dlq_name,
            options: EmbeddedQueueOptions {
                max_receive_count: None,
                ..self.options.clone()
            },
            bounds: Arc::default(),
        }
    }

    /// The file the queue lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drops what is past the retention, then the oldest messages while the bodies exceed
    /// `max_bytes` (down to 90% of it, so a busy queue does not trim on every send). Returns how
    /// many messages were dropped.
    pub async fn enforce_bounds(&self) -> Result<u64, QueueError> {
        const OPERATION: &str = "enforce_bounds";
        let classify = |context: &'static str| {
            move |error| classify_sqlx_error(&self.queue_name, OPERATION, context, error)
        };
        let oldest_kept = now_millis().saturating_sub(duration_millis(self.options.retention));
        let expired =
            sqlx::query("DELETE FROM queue_messages WHERE queue_name = ?1 AND sent_at_ms < ?2")
                .bind(&self.queue_name)
                .bind(oldest_kept)
                .execute(&self.pool)
                .await
                .map_err(classify("dropping expired messages"))?
                .rows_affected();
        let total_bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(body_bytes), 0) FROM queue_messages WHERE queue_name = ?1",
        )
        .bind(&self.queue_name)
        .fetch_one(&self.pool)
        .await
        .map_err(classify("summing message sizes"))?;
        let max_bytes = i64::try_from(self.options.max_bytes).unwrap_or(i64::MAX);
        let mut over_cap = 0;
        if total_bytes > max_bytes {
            let excess = total_bytes - max_bytes / 10 * 9;
            over_cap = sqlx::query(
                "DELETE FROM queue_messages WHERE sequence IN ( \
                   SELECT sequence FROM ( \
                     SELECT sequence, SUM(body_bytes) OVER (ORDER BY sequence) - body_bytes AS before \
                     FROM queue_messages WHERE queue_name = ?1) \
                   WHERE before < ?2)",
            )
            .bind(&self.queue_name)
            .bind(excess)
            .execute(&self.pool)
            .await
            .map_err(classify("dropping the oldest messages"))?
            .rows_affected();
        }
        if expired + over_cap > 0 {
            self.bounds
                .dropped
                .fetch_add(expired + over_cap, Ordering::Relaxed);
            tracing::warn!(queue = %self.queue_name, expired, over_cap,
                retention_secs = self.options.retention.as_secs(), max_bytes = self.options.max_bytes,
                "embedded queue dropped its oldest messages to stay within its bounds (is a consumer reading it?)");
        }
        Ok(expired + over_cap)
    }

    /// [`enforce_bounds`](Self::enforce_bounds) when the last check is a minute old.
    async fn enforce_bounds_when_due(&self) {
        {
            let mut last_checked = self
                .bounds
                .last_checked
                .lock()
                .expect("bounds lock poisoned");
            if last_checked.is_some_and(|last| last.elapsed() < BOUNDS_CHECK_INTERVAL) {
                return;
            }
            *last_checked = Some(std::time::Instant::now());
        }
        if let Err(error) = self.enforce_bounds().await {
            tracing::warn!(queue = %self.queue_name, cause = %error, "cannot enforce the embedded queue's bounds");
        }
    }

    /// Moves messages delivered `max_receive_count` times to the dead-letter queue, then claims
    /// up to `max_messages` of the oldest visible ones, each with a fresh receipt.
    async fn claim(
        &self,
        max_messages: u32,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        const OPERATION: &str = "receive";
        let now = now_millis();
        let max_receive_count = i64::from(self.options.max_receive_count.unwrap_or(u32::MAX));
        if self.options.max_receive_count.is_some() {
            let moved = sqlx::query(
                "UPDATE queue_messages SET queue_name = ?1, receipt = NULL, visible_at_ms = ?2 \
                 WHERE queue_name = ?3 AND visible_at_ms <= ?2 AND receive_count >= ?4",
            )
            .bind(dead_letter_queue_name(&self.queue_name))
            .bind(now)
            .bind(&self.queue_name)
            .bind(max_receive_count)
            .execute(&self.pool)
            .await
            .map_err(|error| {
                classify_sqlx_error(
                    &self.queue_name,
                    OPERATION,
                    "moving to the dead-letter queue",
                    error,
                )
            })?
            .rows_affected();
            if moved > 0 {
                send_notifier(&self.path, &dead_letter_queue_name(&self.queue_name))
                    .notify_waiters();
                tracing::warn!(
                    queue = %self.queue_name,
                    moved,
                    "moved messages to the dead-letter queue after too many deliveries"
                );
            }
        }
        let visible_at = now.saturating_add(duration_millis(visibility_timeout));
        // The receipt is a fresh random token plus the row's sequence, so it is unique per delivery;
        // claiming in one statement makes concurrent receives (other processes too) disjoint.
        let rows = sqlx::query(
            "UPDATE queue_messages \
             SET receipt = ?1 || '.' || sequence, visible_at_ms = ?2, receive_count = receive_count + 1 \
             WHERE sequence IN ( \
                 SELECT sequence FROM queue_messages \
                 WHERE queue_name = ?3 AND visible_at_ms <= ?4 AND receive_count < ?5 \
                 ORDER BY sequence LIMIT ?6) \
             RETURNING sequence, message_id, body, attributes, receive_count, receipt",
        )
        .bind(random_hex(16))
        .bind(visible_at)
        .bind(&self.queue_name)
        .bind(now)
        .bind(max_receive_count)
        .bind(i64::from(max_messages))
        .fetch_all(&self.pool)
        .await
        .map_err(|error| classify_sqlx_error(&self.queue_name, OPERATION, "claiming messages", error))?;

        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            claimed.push(self.decode_row(&row)?);
        }
        // RETURNING does not promise an order; hand out the oldest first.
        claimed.sort_by_key(|(sequence, _)| *sequence);
        Ok(claimed.into_iter().map(|(_, message)| message).collect())
    }

    fn decode_row(
        &self,
        row: &sqlx::sqlite::SqliteRow,
    ) -> Result<(i64, ReceivedMessage), QueueError> {
        let corrupt = |error: String| {
            QueueError::permanent(
                &self.queue_name,
                "receive",
                format!("reading a message: {error}"),
            )
        };
        let sequence: i64 = row
            .try_get("sequence")
            .map_err(|error| corrupt(error.to_string()))?;
        let attributes_json: String = row
            .try_get("attributes")
            .map_err(|error| corrupt(error.to_string()))?;
        let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes_json)
            .map_err(|error| corrupt(format!("attributes of message {sequence}: {error}")))?;
        let receive_count: i64 = row
            .try_get("receive_count")
            .map_err(|error| corrupt(error.to_string()))?;
        let message = ReceivedMessage {
            message_id: row
                .try_get("message_id")
                .map_err(|error| corrupt(error.to_string()))?,
            body: row
                .try_get("body")
                .map_err(|error| corrupt(error.to_string()))?,
            attributes,
            receipt: ReceiptHandle(
                row.try_get("receipt")
                    .map_err(|error| corrupt(error.to_string()))?,
            ),
            receive_count: u32::try_from(receive_count).unwrap_or(u32::MAX),
        };
        Ok((sequence, message))
    }

    fn check_receipt(
        &self,
        operation: &'static str,
        receipt: &ReceiptHandle,
    ) -> Result<(), QueueError> {
        let well_formed = receipt.0.split_once('.').is_some_and(|(token, sequence)| {
            token.len() == 32
                && token.bytes().all(|byte| byte.is_ascii_hexdigit())
                && !sequence.is_empty()
                && sequence.bytes().all(|byte| byte.is_ascii_digit())
        });
        if well_formed {
            Ok(())
        } else {
            Err(QueueError::permanent(
                &self.queue_name,
                operation,
                format!("malformed receipt handle {receipt:?}"),
            ))
        }
    }
}

#[async_trait]
impl MessageQueue for EmbeddedQueue {
    fn dropped_total(&self) -> u64 {
        self.bounds.dropped.load(Ordering::Relaxed)
    }

    fn name(&self) -> &str {
        &self.queue_name
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<SendOutcome, QueueError> {
        const OPERATION: &str = "send_batch";
        check_batch_len(&self.queue_name, messages.len())?;
        let mut outcome = SendOutcome::default();
        let mut valid = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            match self.options.limits.check(message) {
                Ok(_) => valid.push(message),
                Err(error) => outcome.failed.push((index, error)),
            }
        }
        if valid.is_empty() {
            return Ok(outcome);
        }
        let now = now_millis();
        let mut transaction = self.pool.begin().await.map_err(|error| {
            classify_sqlx_error(&self.queue_name, OPERATION, "starting a transaction", error)
        })?;
        let mut rows = Vec::with_capacity(valid.len());
        for message in valid {
            let attributes_json = serde_json::to_string(&message.attributes).map_err(|error| {
                QueueError::permanent(
                    &self.queue_name,
                    OPERATION,
                    format!("encoding attributes: {error}"),
                )
            })?;
            rows.push((message, attributes_json));
        }
        for statement_rows in by_body_bytes(&rows, |(message, _)| message.body.len()) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO queue_messages \
                 (queue_name, message_id, body, attributes, deduplication_id, sent_at_ms, visible_at_ms, body_bytes) ",
            );
            insert.push_values(statement_rows, |mut row, (message, attributes_json)| {
                row.push_bind(self.queue_name.as_str())
                    .push_bind(new_message_id())
                    .push_bind(message.body.as_str())
                    .push_bind(attributes_json.as_str())
                    .push_bind(message.deduplication_id.as_str())
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(i64::try_from(message.body.len()).unwrap_or(i64::MAX));
            });
            insert
                .build()
                .execute(&mut *transaction)
                .await
                .map_err(|error| {
                    classify_sqlx_error(&self.queue_name, OPERATION, "inserting messages", error)
                })?;
        }
        transaction.commit().await.map_err(|error| {
            classify_sqlx_error(&self.queue_name, OPERATION, "committing", error)
        })?;
        self.sent.notify_waiters();
        self.enforce_bounds_when_due().await;
        tracing::debug!(
            queue = %self.queue_name,
            sent = rows.len(),
            failed = outcome.failed.len(),
            "sent a batch"
        );
        Ok(outcome)
    }

    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max_messages = max_messages.clamp(1, MAX_BATCH as u32);
        let visibility_timeout = visibility_timeout.min(MAX_VISIBILITY_TIMEOUT);
        let deadline = Instant::now() + wait.min(MAX_RECEIVE_WAIT);
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let sent = self.sent.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();

            let messages = self.claim(max_messages, visibility_timeout).await?;
            if !messages.is_empty() {
                return Ok(messages);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = (deadline - now).min(POLL_INTERVAL);
            tokio::select! {
                () = &mut sent => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt: &ReceiptHandle) -> Result<(), QueueError> {
        const OPERATION: &str = "delete";
        self.check_receipt(OPERATION, receipt)?;
        let deleted =
            sqlx::query("DELETE FROM queue_messages WHERE queue_name = ?1 AND receipt = ?2")
                .bind(&self.queue_name)
                .bind(&receipt.0)
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    classify_sqlx_error(&self.queue_name, OPERATION, "deleting", error)
                })?
                .rows_affected();
        if deleted == 0 {
            // Already deleted, or received again since: the newer claim wins (see the module doc).
            tracing::debug!(queue = %self.queue_name, ?receipt, "delete with a receipt that is no longer current");
        }
        Ok(())
    }

    async fn extend_visibility(
        &self,
        receipt: &ReceiptHandle,
        visibility_timeout: Duration,
    ) -> Result<(), QueueError> {
        const OPERATION: &str = "extend_visibility";
        self.check_receipt(OPERATION, receipt)?;
        let visible_at = now_millis().saturating_add(duration_millis(
            visibility_timeout.min(MAX_VISIBILITY_TIMEOUT),
        ));
        let updated = sqlx::query(
            "UPDATE queue_messages SET visible_at_ms = ?1 WHERE queue_name = ?2 AND receipt = ?3",
        )
        .bind(visible_at)
        .bind(&self.queue_name)
        .bind(&receipt.0)
        .execute(&self.pool)
        .await
        .map_err(|error| classify_sqlx_error(&self.queue_name, OPERATION, "updating", error))?
        .rows_affected();
        if updated == 0 {
            return Err(QueueError::permanent(
                &self.queue_name,
                OPERATION,
                "the message was deleted, moved to the dead-letter queue or received again since this receipt was issued",
            ));
        }
        if visibility_timeout.is_zero() {
            self.sent.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter_depth(&self) -> Result<Option<u64>, QueueError> {
        let depth = self.dead_letter_queue().approximate_depth().await?;
        Ok(Some(depth.visible + depth.in_flight))
    }

    async fn approximate_depth(&self) -> Result<QueueDepth, QueueError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(visible_at_ms <= ?2), 0) AS visible, \
                    COALESCE(SUM(visible_at_ms > ?2), 0) AS in_flight \
             FROM queue_messages WHERE queue_name = ?1",
        )
        .bind(&self.queue_name)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(|error| {
            classify_sqlx_error(&self.queue_name, "approximate_depth", "counting", error)
        })?;
        let count = |column: &str| -> Result<u64, QueueError> {
            let value: i64 = row.try_get(column).map_err(|error| {
                QueueError::permanent(&self.queue_name, "approximate_depth", error.to_string())
            })?;
            Ok(u64::try_from(value).unwrap_or(0))
        };
        Ok(QueueDepth {
            visible: count("visible")?,
            in_flight: count("in_flight")?,
        })
    }

    async fn health_check(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1 FROM queue_messages WHERE queue_name = ?1 LIMIT 1")
            .bind(&self.queue_name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| {
                classify_sqlx_error(&self.queue_name, "health_check", "querying", error)
            })?;
        Ok(())
    }
}

/// Applies the migrations, once more after a failure: two processes opening a new file at the same
/// moment may both try the first migration, and the loser then finds it applied.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/embedded-queue");

/// A file that cannot be opened: a lock or a busy database may clear up, anything else will not.
fn open_error(queue_name: &str, error: gha_ingest_sqlite::OpenError) -> QueueError {
    const OPERATION: &str = "open";
    let detail = gha_ingest_core::error_chain(&error).to_string();
    match error {
        gha_ingest_sqlite::OpenError::Connect { source, .. } => {
            classify_sqlx_error(queue_name, OPERATION, &detail, source)
        }
        gha_ingest_sqlite::OpenError::Lock { .. } => {
            QueueError::transient(queue_name, OPERATION, detail)
        }
        gha_ingest_sqlite::OpenError::Migrate { .. } => QueueError::permanent(
            queue_name,
            OPERATION,
            format!("{detail} (use a file of its own for the embedded queue)"),
        ),
        gha_ingest_sqlite::OpenError::CreateFolder { .. } => {
            QueueError::permanent(queue_name, OPERATION, detail)
        }
    }
}

/// Classifies a database error once: a busy or locked database, I/O trouble, a full disk or an
/// exhausted pool may clear up (transient); anything else will not (permanent).
fn classify_sqlx_error(
    queue_name: &str,
    operation: &'static str,
    context: &str,
    error: sqlx::Error,
) -> QueueError {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_FULL: i64 = 13;
    let transient = match &error {
        sqlx::Error::Database(database_error) => database_error
            .code()
            .and_then(|code| i64::from_str(&code).ok())
            .is_some_and(|extended_code| {
                matches!(
                    extended_code & 0xff,
                    SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL
                )
            }),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    let message = format!("{context}: {error}");
    if transient {
        QueueError::transient(queue_name, operation, message)
    } else {
        QueueError::permanent(queue_name, operation, message)
    }
}

/// The process-wide "a message was sent" signal of one queue in one file, shared by every
/// [`EmbeddedQueue`] opened on it in this process.
fn send_notifier(path: &Path, queue_name: &str) -> Arc<Notify> {
    type Notifiers = Mutex<HashMap<(PathBuf, String), Arc<Notify>>>;
    static NOTIFIERS: OnceLock<Notifiers> = OnceLock::new();
    let mut notifiers = NOTIFIERS
        .get_or_init(Notifiers::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Forget the signals of queues no longer open, so temporary files do not accumulate.
    notifiers.retain(|_, notify| Arc::strong_count(notify) > 1);
    notifiers
        .entry((path.to_path_buf(), queue_name.to_owned()))
        .or_default()
        .clone()
}

/// SQS queue names: 1 to 80 of `A-Za-z0-9_-`.
fn validate_queue_name(queue_name: &str) -> Result<(), String> {
    let valid = (1..=80).contains(&queue_name.len())
        && queue_name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid queue name {queue_name:?}: use 1 to 80 letters, digits, '-' or '_'"
        ))
    }
}

fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0_u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// A random id in the UUID layout SQS message ids have.
fn new_message_id() -> String {
    let digits = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &digits[0..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..32]
    )
}

/// Bodies bound to one insert, in bytes. A statement is a round trip to SQLite's thread, so a
/// batch of small events goes in one. But sqlx and SQLite each copy what is bound: ten log
/// parts of 256 KiB in one statement took a `--quick logs` bench from 42 to 51 MiB of peak RSS,
/// so large bodies go one or two a statement.
const STATEMENT_BODY_BYTES: usize = 256 * 1024;

/// Splits `rows` into runs of consecutive rows whose bodies (`body_bytes`) add up to at most
/// [`STATEMENT_BODY_BYTES`]; a row larger than that is a run of its own.
fn by_body_bytes<T>(rows: &[T], body_bytes: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, row) in rows.iter().enumerate() {
        let size = body_bytes(row);
        if index > start && bytes + size > STATEMENT_BODY_BYTES {
            runs.push(&rows[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_split_by_body_bytes_and_a_large_body_goes_alone() {
        let sizes = [
            100,
            200,
            STATEMENT_BODY_BYTES,
            300,
            STATEMENT_BODY_BYTES - 300,
            1,
        ];
        let runs: Vec<Vec<usize>> = by_body_bytes(&sizes, |size| *size)
            .into_iter()
            .map(<[usize]>::to_vec)
            .collect();
        assert_eq!(
            runs,
            [
                vec![100, 200],
                vec![STATEMENT_BODY_BYTES],
                vec![300, STATEMENT_BODY_BYTES - 300],
                vec![1],
            ]
        );
        assert!(by_body_bytes(&[] as &[usize], |size| *size).is_empty());
    }

    #[test]
    fn queue_names_follow_sqs() {
        assert!(validate_queue_name("gha-events_1").is_ok());
        assert!(validate_queue_name("").is_err());
        assert!(validate_queue_name("a/b").is_err());
        assert!(validate_queue_name(&"a".repeat(81)).is_err());
    }

    #[test]
    fn message_ids_look_like_uuids() {
        let id = new_message_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, new_message_id());
    }
}
