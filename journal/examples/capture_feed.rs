//! Captures a UDP feed on loopback into a journal, then reads the journal back.
//!
//! It runs on its own: a thread plays the exchange and sends a few quotes to the capture socket.
//! Each datagram becomes one event, byte for byte, stamped with the kernel's receive time.
//!
//! ```text
//! cargo run --example capture_feed
//! ```

use std::error::Error;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use journal::{CaptureOptions, Reader, UdpCapture, Writer};

const QUOTES: &[&str] = &[
    "BTC-USD bid 42000.5 x 1.2",
    "BTC-USD ask 42001.0 x 0.8",
    "ETH-USD bid 2250.25 x 10",
    "ETH-USD ask 2250.75 x 4.5",
    "BTC-USD trade 42000.5 x 0.3",
];

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("journal-capture-feed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("feed.journal");
    let mut writer = Writer::create(&path)?;

    // A modest receive buffer and batch for a small feed; a read timeout short enough that the
    // loop below notices a silent feed quickly.
    let mut opts = CaptureOptions::new();
    opts.recv_buffer(4 << 20)
        .batch(16)
        .read_timeout(Some(Duration::from_millis(50)));
    let mut capture = UdpCapture::bind("127.0.0.1:0".parse()?, &opts)?;
    let feed = capture.local_addr();
    println!("capturing {feed} into {}", path.display());

    // The exchange: a socket of its own on another thread.
    let exchange = std::thread::spawn(move || -> std::io::Result<std::net::SocketAddr> {
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        for quote in QUOTES {
            tx.send_to(quote.as_bytes(), feed)?;
        }
        tx.local_addr()
    });

    // The recorder's loop: one recvmmsg per burst, each datagram appended as one event.
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.stats().datagrams < QUOTES.len() as u64 {
        if Instant::now() > deadline {
            return Err(format!("the feed went silent: {:?}", capture.stats()).into());
        }
        capture.recv_batch(&mut writer)?;
    }
    let sender = exchange.join().expect("the exchange thread panicked")?;

    // A handler can take the datagrams itself instead, with the sender's address.
    UdpSocket::bind("127.0.0.1:0")?.send_to(b"heartbeat", feed)?;
    let mut heartbeat = None;
    while heartbeat.is_none() {
        if Instant::now() > deadline {
            return Err("no heartbeat".into());
        }
        capture.recv_with(|d| heartbeat = Some((d.source, d.payload.len())))?;
    }
    if let Some((Some(from), len)) = heartbeat {
        println!("a heartbeat of {len} bytes from {from}, handled and not recorded");
    }

    let stats = capture.stats();
    writer.close()?;
    println!(
        "{} datagrams, {} bytes, {} kernel drops, {} receive calls; quotes sent from {sender}",
        stats.datagrams, stats.bytes, stats.kernel_drops, stats.receive_calls
    );

    let reader = Reader::open(&path)?;
    for event in reader.iter() {
        let event = event?;
        println!(
            "{:>2}  {}  {}",
            event.index,
            event.timestamp,
            String::from_utf8_lossy(event.payload)
        );
    }
    assert!(reader.verify()?.is_intact());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
