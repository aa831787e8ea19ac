//! Writes that commit together in one round trip (issue 12: the cost of a routed intake is per statement
//! and per commit, not in any one query).
//!
//! A [`Batch`] collects insert and update statements built by sea-orm and runs them atomically: on
//! PostgreSQL as one statement (each write but the last a data-modifying CTE, `WITH w0 AS (INSERT ...),
//! w1 AS (INSERT ...) INSERT ...`), so a batch costs one round trip and no `BEGIN`/`COMMIT`; on SQLite
//! (in-process, where a round trip costs nothing) in one transaction. Either way every write lands or
//! none does, and the first failure (a unique index, a constraint) is the batch's error.
//!
//! The writes of one batch see the same snapshot and cannot read each other's rows, so a batch holds only
//! writes that do not depend on one another's results (rows whose keys the caller already knows).
//! Constraints are checked at the end of the statement, so a row and the rows referring to it may share a
//! batch.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryTrait, Statement, TransactionTrait,
    Value,
};

use crate::Writer;

/// Writes to commit together ([module docs](self)).
#[derive(Debug)]
pub struct Batch {
    backend: DbBackend,
    statements: Vec<Statement>,
}

impl Batch {
    /// An empty batch for `db`'s backend.
    pub fn new(db: &DatabaseConnection) -> Self {
        Self { backend: db.get_database_backend(), statements: Vec::new() }
    }

    /// Adds a write (an insert or an update built by sea-orm, without `RETURNING`).
    pub fn push(&mut self, write: &impl QueryTrait) {
        self.statements.push(write.build(self.backend));
    }

    /// How many writes the batch holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Runs every write atomically (one statement on PostgreSQL, one transaction elsewhere), through
    /// `writer`.
    pub async fn run(self, writer: &Writer) -> Result<(), DbErr> {
        let Self { backend, statements } = self;
        match (backend, statements.len()) {
            (_, 0) => Ok(()),
            (DbBackend::Postgres, _) | (_, 1) => {
                writer.execute(one_statement(statements)).await.map(drop)
            }
            _ => {
                let txn = writer.db().begin().await?;
                for statement in statements {
                    if let Err(e) = txn.execute_raw(statement).await {
                        // The write's error is the batch's; a failed rollback ends with the connection.
                        let _ = txn.rollback().await;
                        return Err(e);
                    }
                }
                txn.commit().await
            }
        }
    }

    /// Runs every write atomically as [`Batch::run`] does, in one statement with the batches other callers
    /// write at the same moment on PostgreSQL ([group commit](crate::group)); the outcome is this batch's
    /// own. On SQLite it is [`Batch::run`].
    pub async fn run_shared(self, writer: &Writer) -> Result<(), DbErr> {
        match writer.groups() {
            Some(groups) if !self.statements.is_empty() => {
                groups.run(writer, self.statements).await
            }
            _ => self.run(writer).await,
        }
    }
}

/// The writes (at least one) as one statement: a single write as it is; on PostgreSQL several with every one
/// but the last a data-modifying CTE, each write's placeholders renumbered after the ones before it.
pub(crate) fn one_statement(mut statements: Vec<Statement>) -> Statement {
    if statements.len() == 1 {
        return statements.remove(0);
    }
    let last = statements.len() - 1;
    let mut sql = String::from("WITH ");
    let mut values: Vec<Value> = Vec::new();
    for (i, statement) in statements.into_iter().enumerate() {
        let shifted = renumber(&statement.sql, values.len());
        if i < last {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("w{i} AS ({shifted})"));
        } else {
            sql.push(' ');
            sql.push_str(&shifted);
        }
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with every PostgreSQL placeholder `$n` made `$(n + offset)`. Statements built by sea-orm bind
/// every value, so a `$` followed by digits is always a placeholder; a `$` inside a quoted string or
/// identifier is copied as it is.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&format!("${}", n + offset));
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_and_quoted_text_is_left_alone() {
        assert_eq!(renumber("VALUES ($1, $2, $10)", 3), "VALUES ($4, $5, $13)");
        assert_eq!(
            renumber(r#"SELECT '$1', "a$2" WHERE x = $1"#, 5),
            r#"SELECT '$1', "a$2" WHERE x = $6"#
        );
        assert_eq!(renumber("SELECT $ FROM t", 2), "SELECT $ FROM t");
    }

    #[test]
    fn writes_become_ctes_before_the_last_with_their_values_in_order() {
        let write = |sql: &str, values: Vec<Value>| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
        };
        let one = one_statement(vec![
            write("INSERT INTO a (x, y) VALUES ($1, $2)", vec![1.into(), 2.into()]),
            write("INSERT INTO b (z) VALUES ($1)", vec![3.into()]),
            write("UPDATE c SET v = $1 WHERE k = $2", vec![4.into(), 5.into()]),
        ]);
        assert_eq!(
            one.sql,
            "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), w1 AS (INSERT INTO b (z) VALUES ($3)) \
             UPDATE c SET v = $4 WHERE k = $5"
        );
        let values: Vec<Value> = one.values.map(|v| v.0).unwrap_or_default();
        assert_eq!(values, vec![1.into(), 2.into(), 3.into(), 4.into(), 5.into()]);
        // A single write stays as it is.
        let alone = one_statement(vec![write("UPDATE c SET v = $1", vec![4.into()])]);
        assert_eq!(alone.sql, "UPDATE c SET v = $1");
    }
}
