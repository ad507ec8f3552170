//! Opening the state database: WAL journal, a busy timeout, and migrations applied at start.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/state");

/// The pipeline agent's state. Cheap to clone; all clones share one connection pool.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub(crate) pool: SqlitePool,
}

impl StateStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// WAL with `synchronous = NORMAL` survives a killed process without losing a committed
    /// transaction; a power cut may lose the last ones, which are then polled again.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|err| StoreError::Open {
                path: shown.clone(),
                source: sqlx::Error::Io(err),
            })?;
        }
        // Opened one process at a time: see gha-ingest-sqlite for the race this avoids.
        let open_lock = gha_ingest_sqlite::OpenLock::acquire(path)
            .await
            .map_err(|err| StoreError::Open {
                path: shown.clone(),
                source: sqlx::Error::Io(err),
            })?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: shown,
                source,
            })?;
        drop(open_lock);
        Ok(StateStore { pool })
    }

    /// Whether the database answers: for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|source| StoreError::Query {
                operation: "ping",
                source,
            })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
