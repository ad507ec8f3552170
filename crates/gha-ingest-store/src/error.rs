//! Store errors, with the operation that failed. The sqlx error is the `#[source]`, never repeated
//! in the message: show the whole chain with `gha_ingest_core::error_chain`.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database")]
    Open {
        #[source]
        source: gha_ingest_sqlite::OpenError,
    },
    #[error("state database: {operation}")]
    Query {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("state database: {operation}: stored value is corrupt: {detail}")]
    Corrupt {
        operation: &'static str,
        detail: String,
    },
}

impl StoreError {
    /// Whether trying again later may succeed (a busy or locked file, I/O, a full disk), as
    /// opposed to a corrupt value or a schema that cannot be migrated.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Open { .. } | StoreError::Corrupt { .. } => false,
            StoreError::Query { source, .. } => matches!(
                source,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Database(_)
            ),
        }
    }
}

pub(crate) trait QueryContext<T> {
    fn during(self, operation: &'static str) -> Result<T, StoreError>;
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn during(self, operation: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { operation, source })
    }
}
