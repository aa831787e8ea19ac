//! Group commit: batches written at the same moment by concurrent callers share one statement (issue 12).
//!
//! On PostgreSQL a write's cost is mostly per statement and per commit (the round trip, the executor's
//! start and end, the commit's log flush, the driver's work on both sides), not per row. A batch run
//! through [`Batch::run_shared`](crate::Batch::run_shared) joins a queue; at most [`GROUPS_AT_ONCE`] groups
//! run at once, and every batch that arrived while they ran goes in the next group, as one statement (the
//! batches' writes one after another as [`Batch`](crate::Batch) chains them) with one commit. Nothing waits
//! on a timer: a batch that finds a group's place free goes at once, alone, so one write at a time costs
//! what it did; under load the groups grow with the queue.
//!
//! What each caller is told is what its own batch alone would have met:
//! - every write of a group lands or none does, in one statement;
//! - a group that fails on the data of some write (a unique index, a constraint, a value out of range:
//!   SQLSTATE classes 22 and 23) is run again batch by batch, so a replayed idempotency key fails only its
//!   own batch, and the others land;
//! - a group that fails otherwise (the connection, the server going away) fails every batch in it with
//!   that error, as each would have failed alone; nothing of it landed, or, if the connection was cut as
//!   the server committed, all of it did (as for a batch alone).
//!
//! A group runs in a task of its own, so a caller that stops waiting (its request cancelled) does not cut
//! the others' statement short; its own batch is written or not with the rest. On SQLite (in-process: no
//! round trip to share) a shared batch runs alone, as [`Batch::run`](crate::Batch::run) does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{DbErr, RuntimeErr, Statement, Value};
use tokio::sync::oneshot;

use crate::Writer;
use crate::batch::one_statement;

/// How many groups run at once: two, so that one group's round trip and commit overlap the next group's
/// work (alternating runs, 8,000 routed intakes at 32 in flight: one or two at once ran alike, 957-1,091
/// against 1,022-1,039 intakes/s; both 17-25 % more than batches alone, for a fifth less CPU per intake).
pub const GROUPS_AT_ONCE: usize = 2;

/// Most batches in one group.
pub const MEMBERS_MAX: usize = 16;

/// Most bytes of bound values in one group (a batch bigger on its own goes alone). The statement's
/// values travel in one message; over TLS, a message beyond one record (16 KiB) goes to the socket a
/// record per write, and the driver's socket keeps Nagle's algorithm on (sqlx sets no `TCP_NODELAY`), so
/// every record after the first waits for the server's delayed ACK, up to 40 ms (measured: with groups of
/// up to 16 routed intakes, about 64 KB of values, 250 intakes/s against 810 with a statement each). Below
/// one record a message goes at once.
pub const BYTES_MAX: usize = 12 * 1024;

/// The queue of batches waiting for a group, and the groups running ([module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct Groups {
    state: Mutex<State>,
    /// Groups run so far and the batches they carried (tests read them).
    groups_run: AtomicU64,
    batches_run: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    queue: VecDeque<Member>,
}

/// One caller's batch, waiting for its group.
#[derive(Debug)]
struct Member {
    statements: Vec<Statement>,
    done: oneshot::Sender<Result<(), DbErr>>,
}

impl Member {
    /// About how many bytes its bound values take in the statement's message.
    fn bytes(&self) -> usize {
        let value = |v: &Value| {
            4 + match v {
                Value::String(Some(s)) => s.len(),
                Value::Bytes(Some(b)) => b.len(),
                Value::Json(Some(j)) => j.to_string().len(),
                _ => 8,
            }
        };
        self.statements.iter().flat_map(|s| s.values.iter().flat_map(|v| &v.0)).map(value).sum()
    }
}

/// Takes a group's place back when its task ends, also by a panic (the batches still queued then get a
/// new group).
struct Running<'a> {
    groups: &'a Arc<Groups>,
    writer: &'a Writer,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = self.groups.lock();
        state.running -= 1;
        // Batches queued after this task took its last group: the next task takes them (not when the
        // runtime is going away; their callers then see the write end unanswered).
        if !state.queue.is_empty()
            && state.running < GROUPS_AT_ONCE
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            state.running += 1;
            runtime.spawn(run_groups(self.groups.clone(), self.writer.clone()));
        }
    }
}

impl Groups {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `statements` (one batch, non-empty) in the next group, and answers how it went for them.
    pub(crate) async fn run(
        self: &Arc<Self>,
        writer: &Writer,
        statements: Vec<Statement>,
    ) -> Result<(), DbErr> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut state = self.lock();
            state.queue.push_back(Member { statements, done });
            let start = state.running < GROUPS_AT_ONCE;
            state.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(run_groups(self.clone(), writer.clone()));
        }
        // The sender is dropped unanswered only if the group's task panicked.
        answer
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom("the write's group ended without it".into())))
    }

    /// How many groups have run, and how many batches they carried.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.groups_run.load(Ordering::Relaxed), self.batches_run.load(Ordering::Relaxed))
    }

    /// How many batches wait for a group now.
    pub(crate) fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// The next group: the batches at the head of the queue, up to [`MEMBERS_MAX`] of them and
    /// [`BYTES_MAX`] of values (always at least one batch).
    fn next_group(&self) -> Vec<Member> {
        let mut state = self.lock();
        let mut group: Vec<Member> = Vec::new();
        let mut bytes = 0;
        while let Some(next) = state.queue.front() {
            let more = next.bytes();
            if !group.is_empty() && (group.len() == MEMBERS_MAX || bytes + more > BYTES_MAX) {
                break;
            }
            bytes += more;
            group.extend(state.queue.pop_front());
        }
        group
    }
}

/// Runs groups until the queue is empty (a task of its own, holding one of the [`GROUPS_AT_ONCE`] places).
async fn run_groups(groups: Arc<Groups>, writer: Writer) {
    let _running = Running { groups: &groups, writer: &writer };
    loop {
        let group = groups.next_group();
        if group.is_empty() {
            return;
        }
        groups.groups_run.fetch_add(1, Ordering::Relaxed);
        groups.batches_run.fetch_add(group.len() as u64, Ordering::Relaxed);
        run_group(&writer, group).await;
    }
}

/// Runs one group as one statement and answers each batch in it ([module docs](self)).
async fn run_group(writer: &Writer, mut group: Vec<Member>) {
    if group.len() == 1 {
        let Member { statements, done } = group.remove(0);
        let _ = done.send(run_alone(writer, statements).await);
        return;
    }
    let all: Vec<Statement> = group.iter().flat_map(|m| m.statements.iter().cloned()).collect();
    match writer.execute(one_statement(all)).await {
        Ok(_) => {
            for m in group {
                let _ = m.done.send(Ok(()));
            }
        }
        Err(e) if fails_on_its_data(&e) => {
            for Member { statements, done } in group {
                let _ = done.send(run_alone(writer, statements).await);
            }
        }
        Err(e) => {
            for m in group {
                let _ = m.done.send(Err(e.clone()));
            }
        }
    }
}

/// One batch's statements as one statement, alone.
async fn run_alone(writer: &Writer, statements: Vec<Statement>) -> Result<(), DbErr> {
    writer.execute(one_statement(statements)).await.map(drop)
}

/// Whether a statement failed on the data of one of its writes (SQLSTATE class 22, data exception, or
/// 23, integrity constraint violation), not on the connection or the server's state.
fn fails_on_its_data(e: &DbErr) -> bool {
    let DbErr::Exec(RuntimeErr::SqlxError(e)) = e else { return false };
    let Some(db) = e.as_database_error() else { return false };
    db.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sea_orm::DbBackend;

    /// A queued batch of one write whose one value is `bytes` long.
    fn member(bytes: usize) -> Member {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO t (v) VALUES ($1)",
            ["x".repeat(bytes).into()],
        );
        Member { statements: vec![statement], done: oneshot::channel().0 }
    }

    fn sizes(groups: &Groups) -> Vec<usize> {
        std::iter::from_fn(|| Some(groups.next_group().len()).filter(|&n| n > 0)).collect()
    }

    #[test]
    fn a_group_carries_at_most_sixteen_batches_and_twelve_kib_of_values() {
        let groups = Groups::default();
        groups.lock().queue.extend((0..40).map(|_| member(10)));
        assert_eq!(sizes(&groups), vec![16, 16, 8]);
        // Routed intakes are about 4 KB each: three to a group.
        groups.lock().queue.extend((0..7).map(|_| member(4000)));
        assert_eq!(sizes(&groups), vec![3, 3, 1]);
        // A batch bigger than a group on its own goes alone, and does not hold back the next.
        groups.lock().queue.extend([member(20_000), member(100), member(100)]);
        assert_eq!(sizes(&groups), vec![1, 2]);
        assert_eq!(member(100).bytes(), 104);
    }
}
