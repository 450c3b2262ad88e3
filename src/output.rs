//! Writes query results in the formats the CLI offers. A file output is written to a temporary
//! file beside its target and renamed into place, so a failed query never leaves half a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::FormatOptions;
use clap::ValueEnum;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::nested_text::{nested_as_text, text_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs -o).
    Parquet,
    /// An Arrow IPC file, for `pyarrow.ipc.open_file` (needs -o).
    Arrow,
}

impl OutputFormat {
    pub fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Parquet | OutputFormat::Arrow)
    }
}

/// Writes `batches` in a text `format` to `out` (a terminal or pipe).
pub fn write_batches<W: Write>(
    out: W,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    let mut out = out;
    match format {
        OutputFormat::Table => {
            // nested values as text, as CSV prints them (arrow's display differs)
            let options = FormatOptions::default().with_null("NULL");
            let mut shown = batches
                .iter()
                .map(nested_as_text)
                .collect::<Result<Vec<_>>>()?;
            if shown.is_empty() {
                shown.push(RecordBatch::new_empty(text_schema(schema)));
            }
            let table = arrow::util::pretty::pretty_format_batches_with_options(&shown, &options)?;
            writeln!(out, "{table}").map_err(|e| Error::io("<output>", e))?;
        }
        OutputFormat::Csv => {
            let mut writer = CsvWriter::new(&mut out, schema);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut out);
            for batch in batches {
                writer.write(batch)?;
            }
            // (for no rows at all, the array writer's finish writes `[]`)
            writer.finish()?;
            writeln!(out).map_err(|e| Error::io("<output>", e))?;
        }
        OutputFormat::Ndjson => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        OutputFormat::Parquet | OutputFormat::Arrow => {
            return Err(Error::usage(
                "parquet and arrow output are binary: give a file path with -o",
            ));
        }
    }
    out.flush().map_err(|e| Error::io("<output>", e))
}

/// CSV with a header row, batch by batch: nested values printed as text (arrow's CSV writer
/// refuses them), and a header even for no rows, so readers still see the columns.
pub struct CsvWriter<W: Write> {
    writer: arrow::csv::Writer<W>,
    schema: SchemaRef,
    wrote: bool,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, schema: &SchemaRef) -> Self {
        Self {
            writer: arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out),
            schema: text_schema(schema),
            wrote: false,
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(&nested_as_text(batch)?)?;
        self.wrote = true;
        Ok(())
    }

    /// Writes the header when no batch came, and returns the output.
    pub fn finish(mut self) -> Result<W> {
        if !self.wrote {
            self.writer
                .write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        Ok(self.writer.into_inner())
    }
}

/// Writes `batches` in any `format` to a file through `write_file_atomically`.
pub fn write_batches_to_file(
    path: &Path,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    write_file_atomically(path, |out| match format {
        OutputFormat::Parquet => {
            let properties = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(properties))?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.close()?;
            Ok(())
        }
        OutputFormat::Arrow => {
            let mut writer = arrow::ipc::writer::FileWriter::try_new(out, schema)?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            Ok(())
        }
        text => write_batches(out, text, schema, batches),
    })
}

/// Writes batches to a Parquet file as they are produced (never all in memory), through
/// `write_file_atomically`. Columns of mostly distinct values (`plain_columns`) skip the
/// dictionary and page statistics, which only cost time on them.
pub fn write_parquet_atomically(
    path: &Path,
    schema: &SchemaRef,
    plain_columns: &[&str],
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<()> {
    write_file_atomically(path, |out| {
        let mut properties =
            WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
        for column in plain_columns {
            let column = ColumnPath::from(*column);
            properties = properties
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_statistics_enabled(column, EnabledStatistics::Chunk);
        }
        let properties = properties.build();
        let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(properties))?;
        for batch in batches {
            writer.write(&batch?)?;
        }
        writer.close()?;
        Ok(())
    })
}

/// Writes to `path` through a temporary file in the same directory, renamed on success.
pub fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(directory).map_err(|e| Error::io(directory, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".userlake-");
    // the output is made like any file the user creates (0666 less the umask), not with the
    // owner-only mode of a temporary file: a report or CSV is written to be shared
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temporary = builder
        .tempfile_in(directory)
        .map_err(|e| Error::io(directory, e))?;
    let (file, temporary_path) = temporary.into_parts();
    let mut writer = BufWriter::new(file);
    write(&mut writer)?;
    writer.flush().map_err(|e| Error::io(path, e))?;
    temporary_path
        .persist(path)
        .map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
