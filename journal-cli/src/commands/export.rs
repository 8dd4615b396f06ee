//! `journal export`: write a journal's events (or a slice of them by time, FORMAT.md 6.4) as
//! Parquet, Arrow IPC, CSV or JSON Lines, for analysis tools. Columns: `index` (uint64),
//! `timestamp` (timestamp[ns, UTC]) and `payload` (binary). `journal import` reads the Parquet
//! back into a journal with the same events.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use journal::{Error, Event};

use crate::exit::Status;
use crate::output::{self, EventWriter};
use crate::source::Source;
use crate::time::{self, Step};

const EXAMPLES: &str = "\
Examples:
  journal export quotes.journal quotes.parquet --format parquet
  journal export quotes.journal minute.arrow --format arrow \\
      --from-time 2026-11-02T14:30:00Z --to-time 2026-11-02T14:31:00Z
  journal export quotes.journal quotes.csv --format csv
  journal export quotes/ quotes.parquet --format parquet      # a journal set
  journal import quotes.parquet copy.journal

Columns: index (uint64), timestamp (timestamp[ns, UTC]), payload (binary).
  parquet  zstd-compressed, row groups of up to 1Mi rows (for scans)
  arrow    Arrow IPC file (Feather v2), record batches of up to 1Mi rows
  csv      index,timestamp,payload: RFC 3339 time with nanoseconds, payload in standard base64
  jsonl    as `journal dump --format jsonl`

OUT must not exist. A damaged journal: its valid events (in the range) are exported, the file is
completed, then the damage is reported and the status is 1.

SOURCE may be a journal set's directory (spec/SET.md): its segments are exported in order as one
journal, with global indexes, the start of the range found through the segments' indexes. A
damaged segment, or one that does not start where the one before it ends (a broken chain), ends
the export as damage does.";

/// Export a journal's events as Parquet, Arrow, CSV or JSON Lines.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
    source: PathBuf,
    /// The file to write (must not exist).
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    #[command(flatten)]
    time: time::RangeArgs,
}

/// The formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Apache Parquet, zstd.
    Parquet,
    /// Arrow IPC file.
    Arrow,
    /// Comma-separated values, payload in base64.
    Csv,
    /// JSON Lines, as `dump --format jsonl`.
    Jsonl,
}

/// Rows per Parquet row group and per Arrow record batch: large enough that a scan reads long
/// runs, small enough that the batch being built stays a few hundred MB at most.
#[cfg(feature = "arrow")]
pub const ROWS_PER_BATCH: usize = 1 << 20;

/// Where the events go.
trait Sink {
    fn push(&mut self, ev: &Event<'_>) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// Runs `journal export`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let range = args.time.range()?;
    let source = Source::open(&args.source)?;
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&args.out)
        .with_context(|| format!("{}: cannot create", output::path(&args.out)))?;
    let sink = sink(args.format, file);
    let mut sink = match sink {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&args.out);
            return Err(e);
        }
    };
    let mut filter = range.filter();
    let mut damage = None;
    let mut events = source.events(0, range.from)?;
    while let Some(item) = events.next_event() {
        let ev = match item {
            Ok(ev) => ev,
            Err(e @ (Error::Damaged { .. } | Error::BadSet { .. })) => {
                damage = Some(events.error(e));
                break;
            }
            Err(e) => return Err(e.into()),
        };
        match filter.step(ev.timestamp) {
            Step::Skip => continue,
            Step::Stop => break,
            Step::Take => sink.push(&ev)?,
        }
    }
    sink.finish()
        .with_context(|| format!("{}: writing", output::path(&args.out)))?;
    match damage {
        Some(e) => Err(e),
        None => Ok(Status::Success),
    }
}

fn sink(format: ExportFormat, file: File) -> anyhow::Result<Box<dyn Sink>> {
    let w = BufWriter::with_capacity(1 << 20, file);
    Ok(match format {
        ExportFormat::Jsonl => Box::new(Jsonl(EventWriter::new(w, output::Format::Jsonl))),
        ExportFormat::Csv => Box::new(Csv::new(w)?),
        #[cfg(feature = "arrow")]
        ExportFormat::Parquet => Box::new(columnar::Columnar::parquet(w)?),
        #[cfg(feature = "arrow")]
        ExportFormat::Arrow => Box::new(columnar::Columnar::ipc(w)?),
        #[cfg(not(feature = "arrow"))]
        ExportFormat::Parquet | ExportFormat::Arrow => {
            drop(w);
            anyhow::bail!(
                "this build of journal has no Parquet or Arrow support (the `arrow` feature)"
            )
        }
    })
}

struct Jsonl(EventWriter<BufWriter<File>>);

impl Sink for Jsonl {
    fn push(&mut self, ev: &Event<'_>) -> anyhow::Result<()> {
        Ok(self.0.write(ev)?)
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        Ok(self.0.flush()?)
    }
}

struct Csv {
    out: BufWriter<File>,
    line: String,
}

impl Csv {
    fn new(mut out: BufWriter<File>) -> anyhow::Result<Csv> {
        out.write_all(b"index,timestamp,payload\n")?;
        Ok(Csv {
            out,
            line: String::with_capacity(256),
        })
    }
}

impl Sink for Csv {
    fn push(&mut self, ev: &Event<'_>) -> anyhow::Result<()> {
        use base64::Engine as _;
        use std::fmt::Write as _;
        let line = &mut self.line;
        line.clear();
        let _ = write!(line, "{},", ev.index);
        time::push_rfc3339(ev.timestamp, line);
        line.push(',');
        base64::engine::general_purpose::STANDARD.encode_string(ev.payload, line);
        line.push('\n');
        Ok(self.out.write_all(line.as_bytes())?)
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        Ok(self.out.flush()?)
    }
}

/// Parquet and Arrow IPC through arrow-rs.
#[cfg(feature = "arrow")]
pub mod columnar {
    use std::io::Write;
    use std::sync::Arc;

    use arrow_array::builder::{BinaryBuilder, TimestampNanosecondBuilder, UInt64Builder};
    use arrow_array::{ArrayRef, RecordBatch};
    use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
    use journal::Event;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    use super::{Sink, ROWS_PER_BATCH};

    /// The exported schema: `index` uint64, `timestamp` timestamp[ns, UTC], `payload` binary.
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("index", DataType::UInt64, false),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("payload", DataType::Binary, false),
        ]))
    }

    enum Out<W: Write + Send> {
        Parquet(ArrowWriter<W>),
        Ipc(arrow_ipc::writer::FileWriter<W>),
    }

    /// Builds record batches of [`ROWS_PER_BATCH`] rows and writes them.
    pub struct Columnar<W: Write + Send> {
        out: Out<W>,
        schema: SchemaRef,
        index: UInt64Builder,
        ts: TimestampNanosecondBuilder,
        payload: BinaryBuilder,
        rows: usize,
    }

    impl<W: Write + Send> Columnar<W> {
        fn new(out: Out<W>) -> Self {
            Columnar {
                out,
                schema: schema(),
                index: UInt64Builder::with_capacity(ROWS_PER_BATCH),
                ts: TimestampNanosecondBuilder::with_capacity(ROWS_PER_BATCH).with_timezone("UTC"),
                payload: BinaryBuilder::new(),
                rows: 0,
            }
        }

        /// Parquet, zstd level 3, a row group per batch.
        pub fn parquet(w: W) -> anyhow::Result<Self> {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
                .set_max_row_group_size(ROWS_PER_BATCH)
                .build();
            let writer = ArrowWriter::try_new(w, schema(), Some(props))?;
            Ok(Columnar::new(Out::Parquet(writer)))
        }

        /// Arrow IPC file format.
        pub fn ipc(w: W) -> anyhow::Result<Self> {
            let writer = arrow_ipc::writer::FileWriter::try_new(w, &schema())?;
            Ok(Columnar::new(Out::Ipc(writer)))
        }

        fn flush_batch(&mut self) -> anyhow::Result<()> {
            if self.rows == 0 {
                return Ok(());
            }
            let cols: Vec<ArrayRef> = vec![
                Arc::new(self.index.finish()),
                Arc::new(self.ts.finish()),
                Arc::new(self.payload.finish()),
            ];
            let batch = RecordBatch::try_new(self.schema.clone(), cols)?;
            match &mut self.out {
                Out::Parquet(w) => w.write(&batch)?,
                Out::Ipc(w) => w.write(&batch)?,
            }
            self.rows = 0;
            Ok(())
        }
    }

    impl<W: Write + Send> Sink for Columnar<W> {
        fn push(&mut self, ev: &Event<'_>) -> anyhow::Result<()> {
            self.index.append_value(ev.index);
            self.ts.append_value(ev.timestamp);
            self.payload.append_value(ev.payload);
            self.rows += 1;
            // Arrow `binary` offsets are 32-bit: a batch ends before its payloads reach 2 GiB.
            if self.rows >= ROWS_PER_BATCH || self.payload.values_slice().len() >= 1 << 30 {
                self.flush_batch()?;
            }
            Ok(())
        }

        fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
            self.flush_batch()?;
            match self.out {
                Out::Parquet(w) => {
                    let mut inner = w.into_inner()?;
                    inner.flush()?;
                }
                Out::Ipc(mut w) => {
                    w.finish()?;
                    w.get_mut().flush()?;
                }
            }
            Ok(())
        }
    }
}
