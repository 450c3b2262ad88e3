//! Row emission: the rows the simulation makes, buffered per table and sent to the table
//! writers a batch at a time, each event in the `dt` partition of the day it arrives (late ones
//! held until their day), and the `_truth` rows in parts.

use std::collections::BTreeMap;

use super::{Counts, Writers};
use crate::error::Result;
use crate::generator::tables::{
    BATCH_ROWS, EdgeRows, EventRows, OrderRows, ReferralRows, TouchRows, TruthRows,
};
use crate::generator::writer::{Destination, TableWriter};

pub(super) struct Rows<'a> {
    writers: &'a Writers,
    pub events: EventRows,
    pub touches: TouchRows,
    pub orders: OrderRows,
    pub edges: EdgeRows,
    pub referrals: ReferralRows,
    truth: TruthRows,
    truth_part: usize,
    /// Events that arrive in a later `dt` partition than their day, by arrival day.
    late: BTreeMap<u32, EventRows>,
    pub counts: Counts,
    /// The partition of the day being simulated.
    pub dt: String,
    /// Whether the day being simulated is written (earlier days are only simulated).
    pub writing: bool,
}

/// A buffer of rows of one table.
trait Buffer {
    fn rows(&self) -> usize;
    fn take_batch(&mut self) -> Result<arrow::array::RecordBatch>;
}

macro_rules! buffer {
    ($($rows:ty),+) => {$(
        impl Buffer for $rows {
            fn rows(&self) -> usize {
                self.len
            }
            fn take_batch(&mut self) -> Result<arrow::array::RecordBatch> {
                self.finish()
            }
        }
    )+};
}
buffer!(EventRows, TouchRows, OrderRows, EdgeRows, ReferralRows);

/// Sends `buffer` to `writer` in partition `dt` once it holds `at_least` rows (and any).
fn send(buffer: &mut impl Buffer, writer: &TableWriter, dt: &str, at_least: usize) -> Result<()> {
    if buffer.rows() >= at_least.max(1) {
        writer.send(Destination::Partition(dt.to_string()), buffer.take_batch()?)?;
    }
    Ok(())
}

impl<'a> Rows<'a> {
    pub fn new(writers: &'a Writers) -> Self {
        Self {
            writers,
            events: EventRows::new(),
            touches: TouchRows::new(),
            orders: OrderRows::new(),
            edges: EdgeRows::new(),
            referrals: ReferralRows::new(),
            truth: TruthRows::new(),
            truth_part: 0,
            late: BTreeMap::new(),
            counts: Counts { late_events: 0 },
            dt: String::new(),
            writing: false,
        }
    }

    /// Starts day `day` in partition `dt`: the events that arrive on it late are written.
    pub fn start_day(&mut self, day: u32, dt: String, writing: bool) -> Result<()> {
        self.dt = dt;
        self.writing = writing;
        if let Some(mut late) = self.late.remove(&day) {
            self.writers
                .events
                .send(Destination::Partition(self.dt.clone()), late.finish()?)?;
        }
        Ok(())
    }

    /// The buffer of the events that arrive on `day`, a later day than today's.
    pub fn late_events(&mut self, day: u32) -> &mut EventRows {
        self.late.entry(day).or_insert_with(EventRows::new)
    }

    /// Writes today's events once a batch is full.
    pub fn events_pushed(&mut self) -> Result<()> {
        send(&mut self.events, &self.writers.events, &self.dt, BATCH_ROWS)
    }

    /// Writes today's edges once a batch is full.
    pub fn edges_pushed(&mut self) -> Result<()> {
        send(&mut self.edges, &self.writers.edges, &self.dt, BATCH_ROWS)
    }

    /// Writes today's orders once a batch is full.
    pub fn orders_pushed(&mut self) -> Result<()> {
        send(&mut self.orders, &self.writers.orders, &self.dt, BATCH_ROWS)
    }

    /// Adds a `_truth` row (identifier, person), written in parts of a batch each.
    pub fn truth(&mut self, id_type: &str, value: &str, person: u64) -> Result<()> {
        self.truth.push(id_type, value, person);
        if self.truth.len >= BATCH_ROWS {
            let part = self.truth_part;
            self.truth_part += 1;
            self.writers
                .truth
                .send(Destination::Part(part), self.truth.finish()?)?;
        }
        Ok(())
    }

    /// Writes what is left of the day's rows.
    pub fn flush_day(&mut self) -> Result<()> {
        let (writers, dt) = (self.writers, &self.dt);
        send(&mut self.events, &writers.events, dt, 1)?;
        send(&mut self.orders, &writers.orders, dt, 1)?;
        send(&mut self.touches, &writers.touches, dt, 1)?;
        send(&mut self.edges, &writers.edges, dt, 1)?;
        send(&mut self.referrals, &writers.referrals, dt, 1)
    }

    /// Writes the last `_truth` part and the costs; what the writers could not count.
    pub fn finish(mut self, mut costs: crate::generator::tables::CostRows) -> Result<Counts> {
        self.writers
            .costs
            .send(Destination::Part(0), costs.finish()?)?;
        if self.truth.len > 0 {
            let part = self.truth_part;
            self.writers
                .truth
                .send(Destination::Part(part), self.truth.finish()?)?;
        }
        Ok(self.counts)
    }
}
