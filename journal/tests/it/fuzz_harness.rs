//! The fuzz targets' bodies, shared with `fuzz/` (filled in by the fuzzing work).
