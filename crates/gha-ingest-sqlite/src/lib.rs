//! Opening SQLite files that several processes share (the daemon, a second replica, a test).
//!
//! Two processes creating the same new file at once race on switching it to WAL and on applying
//! its first migration; the loser fails with "database is locked" or "table already exists". An
//! advisory lock on a file beside the database (`<database>-open-lock`), held while connecting
//! and migrating, makes opening one process at a time. After that, WAL and a busy timeout let
//! them share the file. Both the state store and the embedded queue open their files this way,
//! through [`open_pool`]: the whole recipe (folder, lock, WAL, busy timeout, pool, migrations)
//! lives here once, so the two files can never drift apart in how they are opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a statement waits for another connection's (or process's) write lock before it
/// fails. Long enough for any single transaction of the daemon; short enough to surface a stuck
/// lock as an error instead of a hang.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per pool: SQLite has one writer at a time, so more buys nothing.
pub const MAX_CONNECTIONS: u32 = 4;

/// Page cache per connection, in KiB (SQLite's default is 2,000). Each connection keeps its own
/// cache, and the daemon holds two pools of [`MAX_CONNECTIONS`]: at the default that is up to
/// 16 MiB, most of it copies of pages the OS caches anyway. The pages every statement walks (the
/// indexes' upper levels) fit in this.
pub const CACHE_KIB: u32 = 1024;

/// Why a database could not be opened, by step.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create folder {folder}")]
    CreateFolder {
        folder: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path} for opening")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open {path}")]
    Connect {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate {path}")]
    Migrate {
        path: String,
        #[source]
        source: MigrateError,
    },
}

/// Opens (creating if needed) the SQLite file at `path` the one way gha-ingest opens its files:
/// parent folder created, one opener at a time ([`OpenLock`]), WAL with `synchronous = NORMAL`
/// (a killed process loses no committed transaction; a power cut may lose the last ones),
/// [`BUSY_TIMEOUT`], foreign keys on, a page cache of [`CACHE_KIB`], and `migrations` applied
/// before the pool is handed out.
pub async fn open_pool(path: &Path, migrations: &Migrator) -> Result<SqlitePool, OpenError> {
    let shown = path.display().to_string();
    if let Some(folder) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(|source| OpenError::CreateFolder {
                folder: folder.display().to_string(),
                source,
            })?;
    }
    let open_lock = OpenLock::acquire(path)
        .await
        .map_err(|source| OpenError::Lock {
            path: shown.clone(),
            source,
        })?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        // Negative: a size in KiB rather than in pages.
        .pragma("cache_size", format!("-{CACHE_KIB}"));
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
        .map_err(|source| OpenError::Connect {
            path: shown.clone(),
            source,
        })?;
    migrations
        .run(&pool)
        .await
        .map_err(|source| OpenError::Migrate {
            path: shown,
            source,
        })?;
    drop(open_lock);
    Ok(pool)
}

/// An exclusive advisory lock for opening one database; released when dropped.
#[derive(Debug)]
pub struct OpenLock {
    _file: std::fs::File,
}

impl OpenLock {
    /// Waits (off the async threads) until no other process is opening `database`.
    pub async fn acquire(database: &Path) -> std::io::Result<OpenLock> {
        let lock_path = PathBuf::from(format!("{}-open-lock", database.display()));
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            file.lock()?;
            Ok(OpenLock { _file: file })
        })
        .await
        .expect("the lock task does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_opener_waits_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("state.sqlite");
        let first = OpenLock::acquire(&database).await.unwrap();
        let second = tokio::spawn({
            let database = database.clone();
            async move { OpenLock::acquire(&database).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "the second opener did not wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap();
        assert!(dir.path().join("state.sqlite-open-lock").exists());
    }
}
