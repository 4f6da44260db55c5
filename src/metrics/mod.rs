//! What the server tells its operator while it runs: the counts every driver keeps
//! ([`counts`]), the board it posts them on for readers on other threads ([`Board`]), and their
//! Prometheus text ([`exposition`]) with the process's own figures ([`process`]). The metrics
//! listener's service (`handlers/metrics.rs`) serves that text and the health check.

pub mod counts;
pub mod exposition;
pub mod process;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::stats::Stats;
use counts::{Cell, Label, Local, Refusal, Shared};

/// What the drivers publish and anyone may read: each driver's counts (one per reactor worker;
/// the blocking models count into the first), and whether the server is leaving (its health
/// check fails from the first stop request on).
#[derive(Debug)]
pub struct Board {
    workers: Box<[Shared]>,
    leaving: AtomicBool,
    /// The serving model's name, for `tcpserve_build_info`.
    pub(crate) model: &'static str,
}

impl Board {
    /// Zero counts for the services named `names`, for `workers` drivers, under `model`.
    pub(crate) fn new(names: &[&'static str], model: &'static str, workers: usize) -> Board {
        Board {
            workers: (0..workers.max(1)).map(|_| Shared::new(names)).collect(),
            leaving: AtomicBool::new(false),
            model,
        }
    }

    /// Where driver `worker` publishes (or counts, for the blocking models' only one).
    pub(crate) fn counts(&self, worker: usize) -> &Shared {
        &self.workers[worker]
    }

    /// The sum of every driver's counts, as published.
    pub(crate) fn snapshot(&self) -> Local {
        let sum = Local::new(&self.workers[0].names);
        for counts in self.workers.iter() {
            counts.add_into(&sum);
        }
        sum
    }

    /// A stop was requested: the health check says so from now on.
    pub(crate) fn leave(&self) {
        self.leaving.store(true, Ordering::Relaxed);
    }

    pub(crate) fn leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed)
    }

    /// The totals over every service and driver.
    pub(crate) fn stats(&self) -> Stats {
        let counts = self.snapshot();
        let mut stats = Stats {
            accept_errors: counts.accept_errors.get(),
            ..Stats::default()
        };
        for service in counts.services.iter() {
            stats.open += service.open.get();
            stats.accepted += service.accepted.get();
            stats.closed += service.closed.iter().map(Cell::get).sum::<u64>();
            stats.refused += service.refused[Refusal::MaxConns.index()].get();
            stats.bytes_in += service.bytes_in.get();
            stats.bytes_out += service.bytes_out.get();
            stats.buffered += service.buffered.get();
        }
        stats
    }
}
