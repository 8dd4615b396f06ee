//! Journal sets: a directory of format v1 segments that a writer rolls by time or size, read as
//! one journal (spec/SET.md).

pub mod layout;
pub mod prune;
pub mod reader;
mod writer;

pub use layout::{
    is_set, list_segments, segment_name, Retention, RollPolicy, SegmentEntry, SetMeta,
};
pub use prune::{plan, prune, summarize, Cause, PrunePolicy, Removal, SegmentSummary};
pub use reader::{
    ChainBreak, OwnedSetTailer, SegmentReport, SetIter, SetReader, SetReport, SetTailer,
};
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub use writer::CloseHold;
pub use writer::SetLock;
pub use writer::{RollStep, SetClaim, SetWriter, SetWriterOptions};
