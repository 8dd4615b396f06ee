//! A writer thread appends while a [`journal::Tailer`] follows the journal live.
//!
//! The tailer waits for each new event with a [`WaitStrategy`]: here a backoff that spins, then
//! yields, then sleeps up to 200 µs, so it costs little while the writer is quiet. The writer's
//! [`SyncPolicy`] decides only when appended events are made durable (synced to disk): a tailer
//! sees every event as soon as its append returns, whatever the policy.
//!
//! ```text
//! cargo run --example tail_follow
//! ```

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use journal::{now_ns, Reader, SyncPolicy, WaitStrategy, WriterOptions};

/// Events the writer appends.
const EVENTS: u64 = 2_000;

fn payload(index: u64) -> String {
    format!("tick {index}")
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("journal-tail-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("ticks.journal");

    // Sync at most every 50 ms: a power cut loses at most the last 50 ms of events. (The default,
    // SyncPolicy::Never, leaves write-back to the kernel; EveryAppend makes each append durable
    // before it returns, at the cost of a sync per event.)
    let mut writer = WriterOptions::new()
        .sync_policy(SyncPolicy::Interval(Duration::from_millis(50)))
        .create(&path)?;

    // The journal exists once created: the reader can open it while the writer appends.
    let reader = Reader::open(&path)?;
    let mut tail = reader.tail();

    let producer = thread::spawn(move || -> journal::Result<()> {
        for i in 0..EVENTS {
            writer.append(now_ns(), payload(i).as_bytes())?;
            if i % 500 == 499 {
                // A quiet moment in the feed: the tailer backs off to sleeping.
                thread::sleep(Duration::from_millis(20));
            }
        }
        writer.close() // syncs and unlocks
    });

    let strategy = WaitStrategy::Backoff {
        spins: 100,
        yields: 10,
        max_sleep: Duration::from_micros(200),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let started = Instant::now();
    let mut latest = 0;
    while tail.index() < EVENTS {
        let Some(event) = tail.wait(strategy, Some(deadline))? else {
            return Err(format!("timed out after {} events", tail.index()).into());
        };
        assert_eq!(event.payload, payload(event.index).as_bytes());
        latest = event.timestamp;
        if event.index % 500 == 0 {
            println!(
                "followed event {:>4}: {}",
                event.index,
                String::from_utf8_lossy(event.payload)
            );
        }
    }
    producer.join().expect("the writer thread panicked")?;
    println!(
        "followed all {EVENTS} events live in {:?}; the last stamped {latest}",
        started.elapsed()
    );
    drop(reader);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
