//! Replays a small journal of quotes into a shared-memory ring and runs a toy strategy on the other
//! side, in a thread: the shape of a backtest that feeds recorded market data to live code.
//!
//! ```sh
//! cargo run -p journal --example replay_into_strategy
//! ```
//!
//! The producer (here the main thread) and the consumer (the strategy thread) could as well be two
//! processes: the ring is a file (spec/RING.md), and each side attaches to it by path.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use journal::{
    create_ring, replay, Consumer, Pacing, Producer, Reader, ReplayOptions, WaitStrategy, Writer,
};

/// One quote as recorded: a price in ticks, little-endian.
fn quote(price: i64) -> [u8; 8] {
    price.to_le_bytes()
}

/// Writes `n` quotes one millisecond apart: a slow random walk around 10 000 ticks.
fn record(path: &Path, n: u64) -> journal::Result<()> {
    let mut w = Writer::create(path)?;
    let (mut price, mut seed) = (10_000i64, 0x9E37_79B9_7F4A_7C15u64);
    for i in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        price += (seed % 5) as i64 - 2;
        w.append(
            1_700_000_000_000_000_000 + i as i64 * 1_000_000,
            &quote(price),
        )?;
    }
    w.close()
}

/// A toy mean-reversion strategy: buys when the price is 3 ticks under its moving average, sells
/// when 3 over. Returns (quotes seen, buys, sells).
fn strategy(mut ring: Consumer) -> journal::Result<(u64, u64, u64)> {
    let (mut seen, mut buys, mut sells) = (0u64, 0u64, 0u64);
    let mut average = None::<f64>;
    loop {
        let status = ring.read_wait(
            256,
            |r| {
                let Ok(bytes) = <[u8; 8]>::try_from(r.payload) else {
                    return ControlFlow::Break(()); // not a quote: stop, leave it in the ring
                };
                let price = i64::from_le_bytes(bytes) as f64;
                let avg = average.get_or_insert(price);
                if price < *avg - 3.0 {
                    buys += 1;
                } else if price > *avg + 3.0 {
                    sells += 1;
                }
                *avg += (price - *avg) / 20.0;
                seen += 1;
                ControlFlow::Continue(())
            },
            WaitStrategy::default(),
            None,
        )?;
        if status.end_of_stream || status.stopped {
            return Ok((seen, buys, sells));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("journal-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (journal_path, ring_path) = (dir.join("quotes.journal"), dir.join("quotes.ring"));

    record(&journal_path, 2_000)?;
    create_ring(&ring_path, 64 * 1024)?;

    // The strategy attaches first, so that it sees the whole stream.
    let consumer = Consumer::attach(&ring_path)?;
    let strategy = std::thread::spawn(move || strategy(consumer));

    // Replay at 20x real time (2 s of quotes in 0.1 s), gaps over 50 ms cut to 50 ms.
    let mut producer = Producer::attach(&ring_path)?;
    let opts = *ReplayOptions::new()
        .pacing(Pacing::Speed(20.0))
        .max_gap(Duration::from_millis(50));
    let stats = replay(&Reader::open(&journal_path)?, &mut producer, &opts)?;
    drop(producer);

    let (seen, buys, sells) = strategy.join().expect("the strategy thread")?;
    println!(
        "replayed {} quotes in {:.3} s (pacing lag p99 {:?}); the strategy saw {seen}: {buys} buys, {sells} sells",
        stats.events,
        stats.elapsed.as_secs_f64(),
        stats.lag_p99
    );
    assert_eq!(seen, stats.events);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
