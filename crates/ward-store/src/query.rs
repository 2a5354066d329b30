//! Directory queries over the property index (`object_index`), assembled from fixed fragments.
//! Property names come from `ward_core::index` tables and every value is a bound parameter: no
//! text a client sent is ever part of the statement.
//!
//! Two shapes. Ordered by id (the default), the objects are scanned in id order and each
//! condition is an `IN` over the index. Ordered by a property, the scan is driven by that
//! property's index rows in (value, id) order, so a page costs its own size: a condition on the
//! same property (`startswith(displayName,'a')` with `$orderby=displayName`, or the planner's
//! choice when no order was asked) becomes the range of that scan.

use crate::sql::{Arg, Assembled, Tx, args};
use std::borrow::Cow;
use ward_core::ids::{ObjectKind, TenantId};
use ward_core::index::{Cond, ObjectQuery, Test, entries, property};
use ward_core::store::{StoreError, StoreResult};

/// The character above every other: `prefix || MAX` bounds a prefix range.
const MAX_CHAR: char = '\u{10FFFF}';

struct Builder {
    parts: Vec<Cow<'static, str>>,
    args: Vec<Arg>,
}

impl Builder {
    fn new(tenant: TenantId, kind: ObjectKind) -> Self {
        // $1 and $2 are always the tenant and the kind.
        Builder { parts: Vec::new(), args: args![tenant.to_string(), kind.as_str()] }
    }
    fn sql(&mut self, s: &'static str) -> &mut Self {
        self.parts.push(Cow::Borrowed(s));
        self
    }
    fn bind(&mut self, a: impl Into<Arg>) -> &mut Self {
        self.args.push(a.into());
        self.parts.push(Cow::Owned(format!("${}", self.args.len())));
        self
    }
    fn list(&mut self, values: &[String]) -> &mut Self {
        if values.is_empty() {
            return self.sql(" IS NULL AND 1 = 0");
        }
        self.sql(" IN (");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.bind(v.as_str());
        }
        self.sql(")")
    }
    /// `column` passes `test`.
    fn test(&mut self, column: &'static str, test: &Test) -> &mut Self {
        match test {
            Test::Eq(v) => self.sql(column).sql(" = ").bind(v.as_str()),
            Test::In(vs) => self.sql(column).list(vs),
            Test::Range { low, high } => {
                self.sql("1 = 1");
                if let Some((v, inclusive)) = low {
                    self.sql(" AND ").sql(column).sql(if *inclusive { " >= " } else { " > " }).bind(v.as_str());
                }
                if let Some((v, inclusive)) = high {
                    self.sql(" AND ").sql(column).sql(if *inclusive { " <= " } else { " < " }).bind(v.as_str());
                }
                self
            }
            Test::Prefix(p) if p.is_empty() => self.sql("1 = 1"),
            Test::Prefix(p) => {
                let high = format!("{p}{MAX_CHAR}");
                self.sql(column).sql(" >= ").bind(p.as_str()).sql(" AND ").sql(column).sql(" < ").bind(high)
            }
            Test::Suffix(s) => {
                let mut pattern = String::from("%");
                for c in s.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                self.sql(column).sql(" LIKE ").bind(pattern).sql(" ESCAPE '\\'")
            }
            Test::Present => self.sql("1 = 1"),
        }
    }
    fn cond(&mut self, kind: ObjectKind, cond: &Cond) -> StoreResult<&mut Self> {
        match cond {
            Cond::All => {
                self.sql("1 = 1");
            }
            Cond::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                self.sql("o.id").list(&ids);
            }
            Cond::Prop { property: name, test } => {
                let name = known(kind, name)?;
                self.sql("o.id IN (SELECT x.id FROM object_index x WHERE x.tenant_id = $1 AND x.kind = $2 AND x.property = ")
                    .bind(name)
                    .sql(" AND ")
                    .test("x.value", test)
                    .sql(")");
            }
            Cond::Not(inner) => {
                self.sql("NOT (");
                self.cond(kind, inner)?;
                self.sql(")");
            }
            Cond::And(items) | Cond::Or(items) => {
                let (join, empty) = if matches!(cond, Cond::And(_)) { (" AND ", "1 = 1") } else { (" OR ", "1 = 0") };
                if items.is_empty() {
                    self.sql(empty);
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.sql(join);
                    }
                    self.sql("(");
                    self.cond(kind, item)?;
                    self.sql(")");
                }
            }
        }
        Ok(self)
    }
    fn finish(self) -> (Assembled, Vec<Arg>) {
        (Assembled::from_fragments(self.parts), self.args)
    }
}

/// A name in the kind's index table (token properties `{name}~` included), as the table spells it.
fn known(kind: ObjectKind, name: &str) -> StoreResult<&'static str> {
    if let Some(p) = property(kind, name) {
        return Ok(p.name);
    }
    ward_core::index::indexed(kind)
        .iter()
        .find_map(|p| p.tokens.filter(|t| *t == name))
        .ok_or_else(|| StoreError::Invalid(format!("'{name}' is not an indexed property of {}", kind.as_str())))
}

/// Splits off a condition on `order_by` that can be the range of the driving scan.
fn driving_range(cond: &Cond, order_by: &str) -> (Option<Test>, Cond) {
    let drives = |c: &Cond| match c {
        Cond::Prop { property, test } if *property == order_by && !matches!(test, Test::Suffix(_)) => Some(test.clone()),
        _ => None,
    };
    if let Some(t) = drives(cond) {
        return (Some(t), Cond::All);
    }
    if let Cond::And(items) = cond
        && let Some(i) = items.iter().position(|c| drives(c).is_some())
    {
        let mut rest = items.clone();
        let t = drives(&rest.remove(i));
        return (t, Cond::And(rest));
    }
    (None, cond.clone())
}

/// A later page of a scan in `(value, id)` order: it must start where the last page ended, in the
/// index itself, not at the range's start with earlier rows filtered out (which makes page k
/// step over k pages of index rows). So the keyset takes the place of the range's bound on its
/// side; the other bound stays. Under an equality the keyset is on `id` alone, which SQLite
/// turns into `value=? AND id>?`.
fn keyset_range(b: &mut Builder, range: Option<&Test>, value: String, id: String, descending: bool) {
    let after = if descending { " < " } else { " > " };
    match range {
        Some(Test::Eq(v)) => {
            b.sql(" AND d.value = ").bind(v.as_str()).sql(" AND d.id").sql(after).bind(id);
            return;
        }
        // A list: each value is its own run of the index; the filter form is kept.
        Some(t @ Test::In(_)) => {
            b.sql(" AND ").test("d.value", t);
        }
        _ => {}
    }
    b.sql(" AND (d.value, d.id)").sql(after).sql("(").bind(value).sql(", ").bind(id).sql(")");
    // The far bound, if any (the near one is implied by the keyset).
    let far: Option<(String, bool)> = match (range, descending) {
        (Some(Test::Prefix(p)), false) if !p.is_empty() => Some((format!("{p}{MAX_CHAR}"), false)),
        (Some(Test::Prefix(p)), true) if !p.is_empty() => Some((p.clone(), true)),
        (Some(Test::Range { high, .. }), false) => high.clone(),
        (Some(Test::Range { low, .. }), true) => low.clone(),
        _ => None,
    };
    if let Some((v, inclusive)) = far {
        let op = match (descending, inclusive) {
            (false, true) => " <= ",
            (false, false) => " < ",
            (true, true) => " >= ",
            (true, false) => " > ",
        };
        b.sql(" AND d.value").sql(op).bind(v);
    }
}

const COLUMNS_BY_ID: &str = "SELECT o.tenant_id, o.kind, o.id, o.doc, o.version, o.deleted_at, NULL FROM objects o ";
const COLUMNS_BY_VALUE: &str = "SELECT o.tenant_id, o.kind, o.id, o.doc, o.version, o.deleted_at, d.value FROM object_index d \
                                JOIN objects o ON o.tenant_id = d.tenant_id AND o.id = d.id ";

/// The statement for one page (or, with `count`, for the number of matches).
pub(crate) fn select(tenant: TenantId, q: &ObjectQuery, count: bool) -> StoreResult<(Assembled, Vec<Arg>)> {
    let mut b = Builder::new(tenant, q.kind);
    let deleted: &'static str = if q.deleted { " AND o.deleted_at IS NOT NULL" } else { " AND o.deleted_at IS NULL" };
    if count {
        b.sql("SELECT COUNT(*) FROM objects o WHERE o.tenant_id = $1 AND o.kind = $2").sql(deleted).sql(" AND (");
        b.cond(q.kind, &q.cond)?.sql(")");
        return Ok(b.finish());
    }
    let limit = i64::from(q.limit.clamp(1, 10_000));
    match q.order_by {
        None => {
            b.sql(COLUMNS_BY_ID).sql("WHERE o.tenant_id = $1 AND o.kind = $2").sql(deleted);
            if let Some(after) = &q.after {
                b.sql(if q.descending { " AND o.id < " } else { " AND o.id > " }).bind(after.id.to_string());
            }
            b.sql(" AND (");
            b.cond(q.kind, &q.cond)?.sql(")");
            b.sql(if q.descending { " ORDER BY o.id DESC LIMIT " } else { " ORDER BY o.id LIMIT " }).bind(limit);
        }
        Some(name) => {
            let p = property(q.kind, name)
                .filter(|p| !p.multi)
                .ok_or_else(|| StoreError::Invalid(format!("cannot order {} by '{name}'", q.kind.as_str())))?;
            let (range, rest) = driving_range(&q.cond, p.name);
            b.sql(COLUMNS_BY_VALUE).sql("WHERE d.tenant_id = $1 AND d.kind = $2 AND d.property = ").bind(p.name);
            match (&q.after, &range) {
                (None, Some(t)) => {
                    b.sql(" AND ").test("d.value", t);
                }
                (None, None) => {}
                (Some(after), range) => {
                    let value = after.value.clone().ok_or_else(|| StoreError::Invalid("the keyset lacks its sort value".into()))?;
                    keyset_range(&mut b, range.as_ref(), value, after.id.to_string(), q.descending);
                }
            }
            b.sql(deleted).sql(" AND (");
            b.cond(q.kind, &rest)?.sql(")");
            b.sql(if q.descending { " ORDER BY d.value DESC, d.id DESC LIMIT " } else { " ORDER BY d.value, d.id LIMIT " }).bind(limit);
        }
    }
    Ok(b.finish())
}

/// Replaces an object's index rows with those of `doc` (none when `doc` is `None`).
pub(crate) async fn reindex(
    tx: &mut dyn Tx,
    tenant: TenantId,
    kind: ObjectKind,
    id: &str,
    doc: Option<&serde_json::Value>,
) -> StoreResult<()> {
    if ward_core::index::indexed(kind).is_empty() {
        return Ok(());
    }
    let tid = tenant.to_string();
    tx.exec("DELETE FROM object_index WHERE tenant_id = $1 AND id = $2", args![tid.clone(), id]).await?;
    if let Some(doc) = doc {
        for (p, v) in entries(kind, doc) {
            tx.exec(
                "INSERT INTO object_index (tenant_id, kind, property, value, id) VALUES ($1, $2, $3, $4, $5)",
                args![tid.clone(), kind.as_str(), p, v, id],
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes the index rows of every existing object: run once, in the transaction of the migration
/// that creates the index.
pub(crate) async fn reindex_all(tx: &mut dyn Tx) -> StoreResult<u64> {
    let (mut tenant, mut id) = (String::new(), String::new());
    let mut n = 0;
    loop {
        let rows = tx
            .rows(
                "SELECT tenant_id, kind, id, doc FROM objects WHERE (tenant_id > $1 OR (tenant_id = $1 AND id > $2)) \
                 ORDER BY tenant_id, id LIMIT 500",
                args![tenant.clone(), id.clone()],
            )
            .await?;
        let Some(last) = rows.last() else { return Ok(n) };
        (tenant, id) = (last.text(0)?, last.text(2)?);
        for row in &rows {
            let Some(kind) = ObjectKind::parse(&row.text(1)?) else { continue };
            let t: TenantId = row.text(0)?.parse().map_err(|_| StoreError::Corrupt("bad tenant id".into()))?;
            let doc: serde_json::Value = serde_json::from_str(&row.text(3)?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            reindex(tx, t, kind, &row.text(2)?, Some(&doc)).await?;
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_core::index::Keyset;

    fn q(cond: Cond, order_by: Option<&'static str>) -> ObjectQuery {
        ObjectQuery { kind: ObjectKind::User, deleted: false, cond, order_by, descending: false, after: None, limit: 10 }
    }

    #[test]
    fn values_are_bound_never_written_into_the_statement() {
        let hostile = "x' OR 1=1 --";
        let cond = Cond::Or(vec![
            Cond::Prop { property: "displayName", test: Test::Eq(hostile.into()) },
            Cond::Prop { property: "mail", test: Test::Suffix(hostile.into()) },
            Cond::Prop { property: "otherMails", test: Test::In(vec![hostile.into()]) },
        ]);
        let (sql, args) = select(TenantId::from_uuid(uuid::Uuid::new_v4()), &q(cond, None), false).unwrap();
        assert!(!sql.as_str().contains(hostile) && !sql.as_str().contains("1=1"), "{}", sql.as_str());
        assert!(args.iter().any(|a| matches!(a, Arg::Text(Some(t)) if t == hostile)));
    }

    #[test]
    fn unknown_properties_and_collection_orders_are_refused() {
        let bad = Cond::Prop { property: "passwordHash", test: Test::Present };
        assert!(matches!(select(TenantId::from_uuid(uuid::Uuid::new_v4()), &q(bad, None), false), Err(StoreError::Invalid(_))));
        assert!(select(TenantId::from_uuid(uuid::Uuid::new_v4()), &q(Cond::All, Some("otherMails")), false).is_err());
        assert!(select(TenantId::from_uuid(uuid::Uuid::new_v4()), &q(Cond::All, Some("nope")), false).is_err());
    }

    #[test]
    fn a_condition_on_the_order_property_becomes_the_scan_range() {
        let cond = Cond::And(vec![
            Cond::Prop { property: "accountEnabled", test: Test::Eq("true".into()) },
            Cond::Prop { property: "displayName", test: Test::Prefix("ad".into()) },
        ]);
        let mut query = q(cond, Some("displayName"));
        let (first, _) = select(TenantId::from_uuid(uuid::Uuid::new_v4()), &query, false).unwrap();
        assert!(first.as_str().contains("d.value >= $4 AND d.value < $5"), "{}", first.as_str());
        // A later page starts at the keyset, bounded by the range's far end only.
        query.after = Some(Keyset { value: Some("adele".into()), id: ward_core::ObjectId::from_uuid(uuid::Uuid::new_v4()) });
        let (sql, _) = select(TenantId::from_uuid(uuid::Uuid::new_v4()), &query, false).unwrap();
        let sql = sql.as_str();
        assert!(sql.contains("(d.value, d.id) > ($4, $5) AND d.value < $6"), "{sql}");
        assert!(!sql.contains("d.value >= "), "{sql}");
        // The displayName condition is the range; only accountEnabled remains as a sub-select.
        assert_eq!(sql.matches("SELECT x.id").count(), 1, "{sql}");
    }
}
