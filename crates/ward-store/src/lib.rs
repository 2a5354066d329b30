//! Ward's `Store` for SQLite (the embedded default) and PostgreSQL (many nodes), with
//! forward-only migrations and the change feed.
//!
//! The store's logic and SQL are written once ([`sql_store`]); each backend ([`sqlite`],
//! [`postgres`]) only runs statements. The backend is chosen once, at start-up, by [`open`].

mod accounts;
mod migrate;
pub mod postgres;
mod query;
mod sql;
mod sql_store;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use ward_core::store::{Store, StoreError, StoreResult};

pub use migrate::checksum;

/// Where the directory lives.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreLocation {
    /// `ward.db` in the data directory.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl StoreLocation {
    pub const SQLITE_FILE: &'static str = "ward.db";

    /// `--database-url` wins when given; otherwise SQLite in the data directory.
    pub fn from_config(data_dir: &Path, database_url: Option<&str>) -> Result<StoreLocation, String> {
        match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(StoreLocation::Sqlite(data_dir.join(Self::SQLITE_FILE))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(StoreLocation::Postgres(url.to_string())),
            Some(url) if url.starts_with("sqlite://") => Ok(StoreLocation::Sqlite(PathBuf::from(&url["sqlite://".len()..]))),
            Some(_) => Err("the database URL must start with postgres://, postgresql:// or sqlite://".into()),
        }
    }

    /// For logs: never the password.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreLocation::Postgres(url) => match url.split_once('@') {
                Some((_, host)) => format!("postgres://…@{host}"),
                None => url.clone(),
            },
        }
    }
}

/// Opens (creating if need be) and migrates the store.
pub async fn open(location: &StoreLocation, now: time::OffsetDateTime) -> StoreResult<Arc<dyn Store>> {
    let db: Box<dyn sql::Db> = match location {
        StoreLocation::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create data directory {}: {e}", dir.display())))?;
            }
            Box::new(sqlite::SqliteDb::open(path).await?)
        }
        StoreLocation::Postgres(url) => Box::new(postgres::PostgresDb::open(url).await?),
    };
    migrate::migrate(db.as_ref(), sql::micros(now)).await?;
    Ok(Arc::new(sql_store::SqlStore::new(db)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_from_config() {
        let dir = Path::new("/var/lib/ward");
        assert_eq!(StoreLocation::from_config(dir, None).unwrap(), StoreLocation::Sqlite(dir.join("ward.db")));
        assert_eq!(
            StoreLocation::from_config(dir, Some("postgres://u:p@h/db")).unwrap(),
            StoreLocation::Postgres("postgres://u:p@h/db".into())
        );
        assert!(StoreLocation::from_config(dir, Some("mysql://x")).is_err());
        let described = StoreLocation::Postgres("postgres://u:secret@h/db".into()).describe();
        assert!(!described.contains("secret"));
    }
}
