//! What keeps one client from starving the others: a memory pool per query carved out of the
//! server's pool, and an admission gate on the number of queries running at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::byte_size::format_byte_size;

/// A query's share of the server's memory: reservations count against both this query's limit
/// and the server's pool, so neither one query nor all of them together can exceed theirs.
#[derive(Debug)]
pub struct QueryMemoryPool {
    server: Arc<dyn MemoryPool>,
    limit: usize,
    reserved: AtomicUsize,
}

impl QueryMemoryPool {
    pub fn new(server: Arc<dyn MemoryPool>, limit: usize) -> Self {
        QueryMemoryPool {
            server,
            limit,
            reserved: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Display for QueryMemoryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query pool ({} of {} reserved)",
            format_byte_size(self.reserved()),
            format_byte_size(self.limit)
        )
    }
}

impl MemoryPool for QueryMemoryPool {
    fn name(&self) -> &str {
        "userlake_query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.server.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.server.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.server.grow(reservation, additional);
        self.reserved.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.server.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DFResult<()> {
        let claimed =
            self.reserved
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |reserved| {
                    reserved
                        .checked_add(additional)
                        .filter(|total| *total <= self.limit)
                });
        if let Err(reserved) = claimed {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query needs more than its memory limit of {} ({} reserved, {} more asked by {}); \
                 raise --query-memory-limit or make the query smaller",
                format_byte_size(self.limit),
                format_byte_size(reserved),
                format_byte_size(additional),
                reservation.consumer().name()
            )));
        }
        if let Err(error) = self.server.try_grow(reservation, additional) {
            self.reserved.fetch_sub(additional, Ordering::Relaxed);
            return Err(error);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// At most `capacity` queries run at once; the next ones wait up to `queue_timeout` for a slot
/// and are then refused with `RESOURCE_EXHAUSTED`, which clients may retry.
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    queue_timeout: Duration,
}

impl Admission {
    pub fn new(capacity: usize, queue_timeout: Duration) -> Self {
        let capacity = capacity.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            queue_timeout,
        }
    }

    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        let waiting = Arc::clone(&self.slots).acquire_owned();
        match tokio::time::timeout(self.queue_timeout, waiting).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(Status::unavailable("the server is shutting down")),
            Err(_elapsed) => Err(Status::resource_exhausted(format!(
                "server busy: {} queries are running and none finished within {} s; \
                 retry later (the limit is --max-concurrent-queries)",
                self.capacity,
                self.queue_timeout.as_secs_f64()
            ))),
        }
    }

    /// Queries running now.
    pub fn running(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn a_query_is_held_to_its_own_limit_and_the_server_to_its_own() {
        let server: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let first: Arc<dyn MemoryPool> = Arc::new(QueryMemoryPool::new(Arc::clone(&server), 600));
        let second: Arc<dyn MemoryPool> = Arc::new(QueryMemoryPool::new(Arc::clone(&server), 600));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(500).expect("within both limits");
        let error = a.try_grow(200).expect_err("over the query's limit");
        assert!(error.to_string().contains("memory limit of"), "{error}");
        assert_eq!(first.reserved(), 500);
        // the second query fits its own limit but not what the server has left
        assert!(b.try_grow(600).is_err());
        assert_eq!(second.reserved(), 0);
        assert_eq!(server.reserved(), 500);
        b.try_grow(400).expect("what is left");
        drop(a);
        assert_eq!(first.reserved(), 0);
        assert_eq!(server.reserved(), 400);
    }

    #[tokio::test]
    async fn admission_waits_then_refuses() {
        let admission = Admission::new(1, Duration::from_millis(50));
        let held = admission.admit().await.expect("a free slot");
        assert_eq!(admission.running(), 1);
        let refused = admission.admit().await.expect_err("no slot");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop(held);
        let _again = admission.admit().await.expect("freed");
    }
}
