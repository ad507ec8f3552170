//! Opening the state database (the recipe lives in gha-ingest-sqlite) with its migrations.

use std::path::Path;

use gha_ingest_core::Clock;
use sqlx::sqlite::SqlitePool;

use crate::error::StoreError;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/state");

/// The pipeline agent's state. Cheap to clone; all clones share one connection pool.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub(crate) pool: SqlitePool,
    /// "Now" for every timestamp the store writes and every age it prunes by.
    pub(crate) clock: Clock,
}

impl StateStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = gha_ingest_sqlite::open_pool(path, &MIGRATIONS)
            .await
            .map_err(|source| StoreError::Open { source })?;
        Ok(StateStore {
            pool,
            clock: Clock::wall(),
        })
    }

    /// Takes "now" from `clock` (a simulator's, in tests) instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
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
