//! Forward-only migrations, embedded in the binary and applied at start. Both backends carry the
//! same versions and names; an applied migration whose text changed, or one this binary does not
//! know (a newer Ward migrated the store), stops start-up with a clear message.

use crate::sql::{Db, args};
use ward_core::store::{StoreError, StoreResult};

/// FNV-1a, to notice an edited migration. Not a security measure.
pub fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Splits a migration script at `;` line ends. Migrations hold no procedural code, so this is enough.
fn split_statements(sql: &'static str) -> impl Iterator<Item = &'static str> {
    sql.split(";\n").map(str::trim).filter(|s| {
        s.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("--")
        })
    })
}

pub async fn migrate(db: &dyn Db, now_micros: i64) -> StoreResult<()> {
    // The write lock serializes nodes that start at the same time.
    let mut tx = db.begin_write().await?;
    tx.exec(
        "CREATE TABLE IF NOT EXISTS ward_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        vec![],
    )
    .await?;
    let applied = tx.rows("SELECT version, name, checksum FROM ward_migrations ORDER BY version", vec![]).await?;
    let known = db.migrations();
    for row in &applied {
        let (version, name, sum) = (row.int(0)?, row.text(1)?, row.text(2)?);
        let Some(m) = known.iter().find(|m| m.version == version) else {
            return Err(StoreError::Unavailable(format!(
                "the store has migration {version} ({name}) that this Ward does not know: it was migrated by a newer version"
            )));
        };
        if m.name != name || checksum(m.sql) != sum {
            return Err(StoreError::Unavailable(format!(
                "migration {version} ({name}) differs from the one applied to this store; migrations must never be edited"
            )));
        }
    }
    for m in known.iter().filter(|m| !applied.iter().any(|r| r.int(0).ok() == Some(m.version))) {
        tracing::info!(backend = db.name(), version = m.version, name = m.name, "applying migration");
        for statement in split_statements(m.sql) {
            tx.exec(statement, vec![]).await?;
        }
        if m.name == "object_index" {
            // The index of objects written before it existed, in the same transaction.
            let n = crate::query::reindex_all(&mut *tx).await?;
            tracing::info!(backend = db.name(), objects = n, "indexed existing objects");
        }
        tx.exec(
            "INSERT INTO ward_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            args![m.version, m.name, checksum(m.sql), now_micros],
        )
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migration_numbers_and_names() {
        let sqlite: Vec<_> = crate::sqlite::MIGRATIONS.iter().map(|m| (m.version, m.name)).collect();
        let postgres: Vec<_> = crate::postgres::MIGRATIONS.iter().map(|m| (m.version, m.name)).collect();
        assert_eq!(sqlite, postgres);
        for (i, (v, _)) in sqlite.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "versions are dense and start at 1");
        }
    }

    #[test]
    fn both_dialects_create_the_same_tables() {
        let tables = |sql: &str| -> Vec<String> {
            sql.lines()
                .filter_map(|l| l.strip_prefix("CREATE TABLE "))
                .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
                .collect()
        };
        for (a, b) in crate::sqlite::MIGRATIONS.iter().zip(crate::postgres::MIGRATIONS) {
            assert_eq!(tables(a.sql), tables(b.sql), "migration {}", a.version);
        }
    }
}
