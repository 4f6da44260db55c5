//! What the server tells its operator while it runs: the counts every driver keeps
//! ([`counts`]), the board it posts them on for readers on other threads ([`Board`]), and their
//! Prometheus text ([`exposition`]) with the process's own figures ([`process`]). The metrics
//! listener's service (`handlers/metrics.rs`) serves that text and the health check.

pub mod counts;
pub mod exposition;
pub mod process;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::stats::Stats;
use counts::{Cell, Label, Refusal, Shared};

/// What the drivers publish and anyone may read: the counts, and whether the server is
/// leaving (its health check fails from the first stop request on).
#[derive(Debug)]
pub struct Board {
    pub(crate) counts: Shared,
    leaving: AtomicBool,
    /// The serving model's name, for `tcpserve_build_info`.
    pub(crate) model: &'static str,
}

impl Board {
    /// Zero counts for the services named `names`, under `model`.
    pub(crate) fn new(names: &[&'static str], model: &'static str) -> Board {
        Board {
            counts: Shared::new(names),
            leaving: AtomicBool::new(false),
            model,
        }
    }

    /// A stop was requested: the health check says so from now on.
    pub(crate) fn leave(&self) {
        self.leaving.store(true, Ordering::Relaxed);
    }

    pub(crate) fn leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed)
    }

    /// The totals over every service.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = Stats {
            accept_errors: self.counts.accept_errors.get(),
            ..Stats::default()
        };
        for service in self.counts.services.iter() {
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
