//! Replays every committed fuzz corpus and regression file through the fuzz harness (filled in by the fuzzing work).
