//! One thread per table turns batches into Parquet files, so encoding runs beside the
//! simulation. A table's batches arrive in partition order; each partition is one file.
//!
//! Tables keyed by person (events, orders) hold each partition's rows until it is complete and
//! write them in their [`RowOrder`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::row_order::RowOrder;
use crate::error::{Error, Result};

/// Where a batch goes: a `dt=` partition, or a numbered part of an unpartitioned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Partition(String),
    Part(usize),
}

/// Which of the simulated rows a generation writes: the `dt=` partitions from the first day
/// written on (earlier ones are simulated, to reach the same state, and dropped), and how the
/// files of unpartitioned tables are named, so an appended day adds files beside the lake's.
#[derive(Debug, Clone)]
pub struct WriteWindow {
    /// `None`: every partition.
    pub first_partition: Option<String>,
    /// The first lake day written (1-based); it names the parts of unpartitioned tables.
    pub first_day: u32,
}

impl WriteWindow {
    fn writes(&self, destination: &Destination) -> bool {
        match (destination, &self.first_partition) {
            (Destination::Partition(dt), Some(first)) => dt >= first,
            _ => true,
        }
    }

    fn part_file(&self, n: usize) -> String {
        if self.first_day <= 1 {
            format!("part-{n:05}.parquet")
        } else {
            format!("day-{:05}-part-{n:05}.parquet", self.first_day)
        }
    }
}

pub struct TableWriter {
    sender: Option<SyncSender<(Destination, RecordBatch)>>,
    handle: Option<JoinHandle<Result<u64>>>,
}

impl TableWriter {
    /// With an `order`, a partition's batches are held until its last one arrives, then
    /// sorted and written: memory grows to one day of the table.
    pub fn spawn(
        table_dir: PathBuf,
        schema: SchemaRef,
        window: WriteWindow,
        order: Option<RowOrder>,
    ) -> Self {
        // Two batches in flight bound the memory between simulation and encoding.
        let (sender, receiver) = sync_channel(2);
        let handle =
            std::thread::spawn(move || write_table(&table_dir, schema, &window, order, receiver));
        Self {
            sender: Some(sender),
            handle: Some(handle),
        }
    }

    pub fn send(&self, destination: Destination, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match &self.sender {
            Some(sender) if sender.send((destination, batch)).is_ok() => Ok(()),
            // the writer stopped early: its own error is reported by `finish`
            _ => Err(Error::usage(
                "a table writer stopped; see the error that follows",
            )),
        }
    }

    /// Closes the last file and returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        drop(self.sender.take());
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::usage("a table writer thread panicked")),
            None => Ok(0),
        }
    }
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// The file being written: where it goes, its writer, and, when its rows are sorted, their
/// order and the rows held until the file is complete.
struct OpenFile {
    destination: Destination,
    writer: ArrowWriter<File>,
    sorted_by: Option<RowOrder>,
    held: Vec<RecordBatch>,
}

impl OpenFile {
    fn write(&mut self, batch: RecordBatch) -> Result<()> {
        match self.sorted_by {
            Some(_) => self.held.push(batch),
            None => self.writer.write(&batch)?,
        }
        Ok(())
    }

    fn close(mut self) -> Result<()> {
        if let Some(order) = self.sorted_by
            && let Some(sorted) = order.sort(std::mem::take(&mut self.held))?
        {
            self.writer.write(&sorted)?;
        }
        self.writer.close()?;
        Ok(())
    }
}

fn write_table(
    table_dir: &Path,
    schema: SchemaRef,
    window: &WriteWindow,
    order: Option<RowOrder>,
    receiver: Receiver<(Destination, RecordBatch)>,
) -> Result<u64> {
    let mut current: Option<OpenFile> = None;
    let mut rows = 0u64;
    for (destination, batch) in receiver {
        if !window.writes(&destination) {
            continue;
        }
        let switch = current
            .as_ref()
            .is_none_or(|file| file.destination != destination);
        if switch {
            if let Some(file) = current.take() {
                file.close()?;
            }
            let path = match &destination {
                Destination::Partition(dt) => {
                    table_dir.join(format!("dt={dt}")).join("part-0.parquet")
                }
                Destination::Part(n) => table_dir.join(window.part_file(*n)),
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
            let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties()))?;
            // only `dt=` partitions are sorted: the parts of unpartitioned tables are not files
            // of one day, and a day appended later adds its own parts
            let sorted_by = match destination {
                Destination::Partition(_) => order,
                Destination::Part(_) => None,
            };
            current = Some(OpenFile {
                destination,
                writer,
                sorted_by,
                held: Vec::new(),
            });
        }
        if let Some(file) = current.as_mut() {
            rows += batch.num_rows() as u64;
            file.write(batch)?;
        }
    }
    if let Some(file) = current.take() {
        file.close()?;
    }
    Ok(rows)
}
