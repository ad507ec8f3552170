//! Opening SQLite files that several processes share (the daemon, a second replica, a test).
//!
//! Two processes creating the same new file at once race on switching it to WAL and on applying
//! its first migration; the loser fails with "database is locked" or "table already exists". An
//! advisory lock on a file beside the database (`<database>-open-lock`), held while connecting
//! and migrating, makes opening one process at a time. After that, WAL and a busy timeout let
//! them share the file. Both the state store and the embedded queue open their files this way.

use std::path::{Path, PathBuf};

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
