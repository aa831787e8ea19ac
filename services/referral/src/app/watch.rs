//! Watching an organization's referral events: the backlog first, then live events, in commit order.

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;
use tokio_stream::wrappers::ReceiverStream;

use crate::domain::Event;
use crate::error::Result;
use crate::store::{FeedPosition, Store};

/// The events of a watch as they come, until the watcher goes away or the service stops.
pub type Watched = ReceiverStream<Result<Event>>;

/// Starts a watch of `organization_id`'s events after `resumed_from`, leaving out those that occurred
/// before `since` when one is given.
pub fn start(
    store: Store,
    organization_id: String,
    resumed_from: Option<FeedPosition>,
    since: Option<DateTime<Utc>>,
    stop: Shutdown,
) -> Watched {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(watch(store, organization_id, resumed_from, since, tx, stop));
    ReceiverStream::new(rx)
}

/// How often a watch looks for events committed by other replicas (events of this process wake it at once).
pub const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// Most events a watch reads per query.
pub const WATCH_BATCH: u64 = 200;

/// Sends `organization_id`'s referral events after `resumed_from` into `tx`: the backlog first, then
/// live events, until the client goes away or the service shuts down. Events go out in feed order (commit
/// order, see `store::migration_feed`), each with its event id as cursor; a resumed watch starts strictly
/// after the cursor's feed position. Each round reads only below the feed horizon (on PostgreSQL the
/// oldest transaction still running), so an event another replica commits late — however late — waits
/// for its turn instead of being skipped, and nothing is sent twice. A watch from a time starts at the
/// feed position [`Store::feed_before`] finds, but that position is only as recent as the horizon allows
/// (a transaction running elsewhere holds it back), so events after it that occurred before `since` are
/// left out here.
async fn watch(
    store: Store,
    organization_id: String,
    resumed_from: Option<FeedPosition>,
    since: Option<DateTime<Utc>>,
    tx: tokio::sync::mpsc::Sender<Result<Event>>,
    stop: Shutdown,
) {
    let mut changes = store.subscribe();
    let mut last = resumed_from;
    loop {
        let horizon = match store.feed_horizon().await {
            Ok(h) => h,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        loop {
            let events = match store
                .events_after(&organization_id, last.as_ref(), horizon, WATCH_BATCH)
                .await
            {
                Ok(events) => events,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let full = events.len() as u64 >= WATCH_BATCH;
            for (at, e) in events {
                last = Some(at);
                if since.is_some_and(|s| e.occurred_at < s) {
                    continue;
                }
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tx.closed() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(WATCH_POLL).await;
                }
            }
            () = tokio::time::sleep(WATCH_POLL) => {}
        }
    }
}
