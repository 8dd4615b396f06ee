//! `journal import`: read a Parquet file (as `journal export --format parquet` writes it, or any
//! with a `timestamp` and a `payload` column) into a new journal or journal set, one event per row
//! in row order.
//! Export then import reproduces the journal's events exactly: timestamps, payloads, order.

use std::path::PathBuf;

use crate::exit::Status;

const EXAMPLES: &str = concat!(
    "\
Examples:
  journal import quotes.parquet copy.journal
  journal export quotes.journal quotes.parquet --format parquet   # what import reads back
  journal import --roll daily quotes.parquet quotes.set            # into a new journal set

Columns read: timestamp (timestamp with any unit and zone, read as UTC nanoseconds, or int64
nanoseconds) and payload (binary, large binary or string). An index column, if present, must count
up by one in row order (an export of a time range starts where the range starts): rows missing
or out of order are refused. The new journal's events are numbered from 0. Null values are refused.
OUT must not exist (with --roll it may also be an empty directory): import writes new journals and
sets only. On an error, what it created is removed.

",
    crate::sink::roll_help!(),
    "\nFor import, an existing set is refused like an existing file."
);

/// Import a Parquet file into a new journal or a new journal set.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The Parquet file.
    source: PathBuf,
    /// The journal to create (must not exist), or with --roll the journal set.
    out: PathBuf,
    #[command(flatten)]
    roll: crate::sink::RollArgs,
}

/// Runs `journal import`.
#[cfg(not(feature = "arrow"))]
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("this build of journal has no Parquet support (the `arrow` feature)")
}

/// Runs `journal import`.
#[cfg(feature = "arrow")]
pub fn run(args: Args) -> anyhow::Result<Status> {
    use crate::sink::{Mode, Sink, SinkOptions};

    let (mut w, created) = Sink::open(
        &args.out,
        &SinkOptions {
            writer: journal::WriterOptions::new(),
            chunk: 16 << 20,
            roll: args.roll.policy()?,
            mode: Mode::CreateNew,
            refusing: "import into it",
        },
    )?;
    match copy(&args, &mut w) {
        Ok(()) => {
            w.close()?;
            Ok(Status::Success)
        }
        Err(e) => match created {
            Some(created) => match w.discard(created) {
                Ok(()) => Err(e),
                Err(d) => Err(crate::exit::also_failed(e, "removing what it created", d)),
            },
            None => Err(e),
        },
    }
}

#[cfg(feature = "arrow")]
fn copy(args: &Args, w: &mut crate::sink::Sink) -> anyhow::Result<()> {
    use anyhow::Context;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType, UInt64Type,
    };
    use arrow_array::Array;
    use arrow_schema::{DataType, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use crate::exit::DataError;
    use crate::output;

    let src = output::path(&args.source);
    let file = std::fs::File::open(&args.source).with_context(|| format!("{src}: cannot open"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| anyhow::anyhow!("{src}: not a readable Parquet file: {e}"))?;
    let schema = builder.schema().clone();
    let col = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| DataError(format!("{src}: no `{name}` column")))
    };
    let (ts_col, payload_col) = (col("timestamp")?, col("payload")?);
    let index_col = schema.index_of("index").ok();
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| DataError(format!("{src}: {e}")))?;
    let mut row = 0u64;
    // The first row's index, where the index column starts counting.
    let mut first_index: Option<u64> = None;
    for batch in reader {
        let batch = batch.map_err(|e| DataError(format!("{src}: row {row}: {e}")))?;
        let n = batch.num_rows();
        let ts = batch.column(ts_col);
        let payload = batch.column(payload_col);
        let nulls = |a: &dyn Array, what: &str| -> anyhow::Result<()> {
            if a.null_count() > 0 {
                let at = (0..a.len()).find(|&i| a.is_null(i)).unwrap_or(0);
                return Err(
                    DataError(format!("{src}: row {}: null {what}", row + at as u64)).into(),
                );
            }
            Ok(())
        };
        nulls(ts, "timestamp")?;
        nulls(payload, "payload")?;
        // Every timestamp as i64 nanoseconds; a coarser unit is scaled up (overflow refused).
        let scale = |v: i64, mul: i64, i: usize| -> anyhow::Result<i64> {
            v.checked_mul(mul).ok_or_else(|| {
                DataError(format!(
                    "{src}: row {}: timestamp outside the i64 nanosecond range",
                    row + i as u64
                ))
                .into()
            })
        };
        let mut stamps = Vec::with_capacity(n);
        match ts.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                stamps.extend(ts.as_primitive::<TimestampNanosecondType>().values().iter())
            }
            DataType::Int64 => stamps.extend(ts.as_primitive::<Int64Type>().values().iter()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                for (i, &v) in ts
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .iter()
                    .enumerate()
                {
                    stamps.push(scale(v, 1_000, i)?);
                }
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                for (i, &v) in ts
                    .as_primitive::<TimestampMillisecondType>()
                    .values()
                    .iter()
                    .enumerate()
                {
                    stamps.push(scale(v, 1_000_000, i)?);
                }
            }
            DataType::Timestamp(TimeUnit::Second, _) => {
                for (i, &v) in ts
                    .as_primitive::<TimestampSecondType>()
                    .values()
                    .iter()
                    .enumerate()
                {
                    stamps.push(scale(v, 1_000_000_000, i)?);
                }
            }
            t => {
                return Err(DataError(format!(
                    "{src}: the timestamp column is {t}, not a timestamp or int64"
                ))
                .into())
            }
        }
        if let Some(c) = index_col {
            let idx = batch.column(c);
            nulls(idx, "index")?;
            let bad = |i: usize| {
                DataError(format!(
                    "{src}: row {}: the index column does not count up by one in row order",
                    row + i as u64
                ))
            };
            match idx.data_type() {
                DataType::UInt64 => {
                    for (i, &v) in idx.as_primitive::<UInt64Type>().values().iter().enumerate() {
                        let base = *first_index.get_or_insert(v);
                        if v.checked_sub(base) != Some(row + i as u64) {
                            return Err(bad(i).into());
                        }
                    }
                }
                DataType::Int64 => {
                    for (i, &v) in idx.as_primitive::<Int64Type>().values().iter().enumerate() {
                        let v = u64::try_from(v).map_err(|_| bad(i))?;
                        let base = *first_index.get_or_insert(v);
                        if v.checked_sub(base) != Some(row + i as u64) {
                            return Err(bad(i).into());
                        }
                    }
                }
                t => {
                    return Err(DataError(format!(
                        "{src}: the index column is {t}, not an integer"
                    ))
                    .into())
                }
            }
        }
        let mut put = |i: usize, bytes: &[u8]| -> anyhow::Result<()> {
            w.append(stamps[i], bytes)
                .with_context(|| format!("{src}: row {}", row + i as u64))?;
            Ok(())
        };
        match payload.data_type() {
            DataType::Binary => {
                for (i, v) in payload.as_binary::<i32>().iter().enumerate() {
                    put(i, v.unwrap_or_default())?;
                }
            }
            DataType::LargeBinary => {
                for (i, v) in payload.as_binary::<i64>().iter().enumerate() {
                    put(i, v.unwrap_or_default())?;
                }
            }
            DataType::Utf8 => {
                for (i, v) in payload.as_string::<i32>().iter().enumerate() {
                    put(i, v.unwrap_or_default().as_bytes())?;
                }
            }
            DataType::LargeUtf8 => {
                for (i, v) in payload.as_string::<i64>().iter().enumerate() {
                    put(i, v.unwrap_or_default().as_bytes())?;
                }
            }
            t => {
                return Err(DataError(format!(
                    "{src}: the payload column is {t}, not binary or string"
                ))
                .into())
            }
        }
        row += n as u64;
    }
    Ok(())
}
