//! The entry checksum (FORMAT.md 5): CRC-32/ISO-HDLC (reflected polynomial `0xEDB88320`, the one
//! of zlib and `crc32fast`) over `timestamp ‖ size ‖ payload`, in one pass.
//!
//! On x86_64 with `pclmulqdq` and SSE4.1 (detected once, then a cached, predictable branch), the
//! bytes are folded 16 at a time with carry-less multiplications, as in Intel's "Fast CRC
//! Computation for Generic Polynomials Using PCLMULQDQ Instruction" (2009): every 16-byte block
//! is multiplied by `x^(128·k) mod P` for its distance `k` in blocks from the last one, the
//! products are XORed; the last fold leaves a 96-bit remainder (every block times `x^32` as well),
//! which one Barrett step over all 96 bits (two dependent multiplications) reduces to 32. The 12
//! header bytes need no table pass: preceded by 4 zero bytes (which do not change a CRC whose
//! initial value is applied by XOR to the first message bytes) they make the first 16-byte block,
//! built in registers. Everything else uses `crc32fast`.
//!
//! Notation (the white paper's): bit `i` of a reflected 128-bit block loaded little-endian is the
//! coefficient of `x^(127-i)`; a constant `rk(n)` is `x^n mod P` bit-reflected into 33 bits
//! (bit `j` is the coefficient of `x^(32-j)`), so that the carry-less product of a reflected
//! 64-bit half and `rk(n)`, read as a 128-bit block, is that half times `x^(n+32)`.

use std::sync::atomic::{AtomicU8, Ordering};

/// CRC-32 of `timestamp ‖ size ‖ payload` (all little-endian; FORMAT.md 5). `size` is normally
/// `payload.len()`; the ring's control records pass a size with no payload (RING.md 5).
#[inline]
pub(crate) fn entry_crc(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if payload.len() < ACCELERATED_BELOW && x86::available() {
            // SAFETY: `available` has checked that the CPU has pclmulqdq, SSSE3 and SSE4.1.
            return unsafe { x86::entry_crc(timestamp, size, payload) };
        }
    }
    entry_crc_fallback(timestamp, size, payload)
}

/// Payloads from this many bytes on go to `crc32fast`, whose wide fold (two blocks per
/// instruction with AVX2's `vpclmulqdq`, where the CPU has it) is then as fast or faster. Measured
/// on an AMD EPYC (Zen 3), per checksum of 12 header bytes plus the payload: at 256 B 26 ns for
/// `crc32fast` against 28 ns here, at 1 KiB 55 against 86 ns; at 64 B 19 ns against 11 ns.
const ACCELERATED_BELOW: usize = 256;

/// [`entry_crc`] with `crc32fast`, whatever the CPU: the portable path, and the reference the fast
/// path is tested against.
pub(crate) fn entry_crc_fallback(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&timestamp.to_le_bytes());
    head[8..].copy_from_slice(&size.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    h.update(payload);
    h.finalize()
}

/// The accelerated [`entry_crc`] if this CPU has it, `None` otherwise (for the tests, which compare it
/// with the fallback).
#[cfg(test)]
pub(crate) fn entry_crc_accelerated(timestamp: i64, size: u32, payload: &[u8]) -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            // SAFETY: `available` has checked that the CPU has pclmulqdq, SSSE3 and SSE4.1.
            return Some(unsafe { x86::entry_crc(timestamp, size, payload) });
        }
    }
    let _ = (timestamp, size, payload);
    None
}

/// The CPU-feature answer, detected once: 0 not yet known, 1 accelerated, 2 fallback.
#[allow(dead_code)] // unused off x86_64
static SUPPORT: AtomicU8 = AtomicU8::new(0);

/// `x^n mod P`, in the normal bit order (bit `d` is the coefficient of `x^d`), P being the
/// CRC-32 polynomial `0x1_04C1_1DB7`.
const fn xpow_mod(n: u32) -> u32 {
    let mut r: u32 = 1; // x^0
    let mut i = 0;
    while i < n {
        let carry = r & 0x8000_0000 != 0;
        r <<= 1;
        if carry {
            r ^= 0x04C1_1DB7;
        }
        i += 1;
    }
    r
}

/// `rk(n)`: `x^n mod P` reflected into 33 bits (bit `j` is the coefficient of `x^(32-j)`).
const fn rk(n: u32) -> u64 {
    (xpow_mod(n).reverse_bits() as u64) << 1
}

/// The Barrett constant for 96-bit remainders: `floor(x^96 / P)` (degree 64) without its `x^64`
/// term, reflected so that bit `j` is the coefficient of `x^(64-j)` (its `x^0` coefficient, which
/// has no place there, is 0, as the evaluation checks).
const fn barrett_mu96() -> u64 {
    // Long division of x^96 by P, one quotient bit per step, normal bit order.
    const P: u128 = 0x1_04C1_1DB7;
    let mut rem: u128 = 1 << 96;
    let mut q: u128 = 0;
    let mut d = 96;
    while d >= 32 {
        if rem & (1u128 << d) != 0 {
            rem ^= P << (d - 32);
            q |= 1 << (d - 32);
        }
        d -= 1;
    }
    assert!(q >> 64 == 1 && q & 1 == 0);
    // The coefficients x^63..x^1 at bits 1..63.
    (q as u64).reverse_bits() << 1
}

/// Fold constants to the final form: `FOLD_CRC[k]` multiplies a 128-bit block by
/// `x^(128·k) · x^32`, leaving at most 96 bits: its low half with `rk(128k + 96)`, its high half
/// with `rk(128k + 32)`. (The last block, `k = 0`, needs one product only.)
#[allow(dead_code)] // unused off x86_64
const FOLD_CRC: [(u64, u64); 8] = {
    let mut t = [(0u64, 0u64); 8];
    let mut k = 1;
    while k < 8 {
        t[k] = (rk(128 * k as u32 + 96), rk(128 * k as u32 + 32));
        k += 1;
    }
    t
};

/// The Barrett constant, evaluated once at compile time.
#[allow(dead_code)] // unused off x86_64
const MU96: u64 = barrett_mu96();

/// The polynomial itself reflected into 33 bits.
#[allow(dead_code)] // unused off x86_64
const P_REFLECTED: u64 = 0x1_DB71_0641;

/// Fold constants: `FOLD[k]` multiplies a 128-bit block by `x^(128·k)`, its low half with
/// `rk(128k + 32)` (that half carries a factor `x^64`), its high half with `rk(128k - 32)`.
#[allow(dead_code)] // unused off x86_64
const FOLD: [(u64, u64); 8] = {
    let mut t = [(0u64, 0u64); 8];
    let mut k = 1;
    while k < 8 {
        t[k] = (rk(128 * k as u32 + 32), rk(128 * k as u32 - 32));
        k += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Ordering, FOLD, FOLD_CRC, MU96, P_REFLECTED, SUPPORT};
    use std::arch::x86_64::*;

    /// Whether the CPU has what [`entry_crc`] needs; detected on the first call, then one relaxed
    /// load.
    #[inline(always)]
    pub(super) fn available() -> bool {
        if cfg!(all(
            target_feature = "pclmulqdq",
            target_feature = "ssse3",
            target_feature = "sse4.1"
        )) {
            return true;
        }
        match SUPPORT.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => detect(),
        }
    }

    #[cold]
    fn detect() -> bool {
        let yes = std::is_x86_feature_detected!("pclmulqdq")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1");
        SUPPORT.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
        yes
    }

    /// [`FOLD`] in memory, for the folds whose distance is only known at run time.
    static FOLDS: [(u64, u64); 8] = FOLD;

    /// [`FOLD_CRC`] in memory, likewise.
    static FOLDS_CRC: [(u64, u64); 8] = FOLD_CRC;

    /// Byte-shuffle masks: 16 bytes loaded at `SHIFT[16 + r..]` shift a block right by `r` bytes
    /// (toward its start, `psrldq`) and those at `SHIFT[16 - s..]` left by `s` bytes (`pslldq`),
    /// with `0x80` (a zero byte for `pshufb`, and "take the other" for `pblendvb`) where nothing
    /// is shifted in.
    static SHIFT: [u8; 48] = {
        let mut t = [0x80u8; 48];
        let mut i = 0;
        while i < 16 {
            t[16 + i] = i as u8;
            i += 1;
        }
        t
    };

    #[inline]
    #[target_feature(enable = "sse2")]
    fn constant(lo: u64, hi: u64) -> __m128i {
        _mm_set_epi64x(hi as i64, lo as i64)
    }

    /// The low half of `v` times `lo` plus its high half times `hi` (carry-less): one fold step.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold_by(v: __m128i, (lo, hi): (u64, u64)) -> __m128i {
        let c = constant(lo, hi);
        _mm_xor_si128(
            _mm_clmulepi64_si128(v, c, 0x00),
            _mm_clmulepi64_si128(v, c, 0x11),
        )
    }

    /// `v · x^(128·k) mod P`, up to 128 bits (not fully reduced).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold(v: __m128i, k: usize) -> __m128i {
        fold_by(v, FOLDS[k])
    }

    /// `v · x^(128·k) · x^32 mod P`, up to 96 bits: the form [`reduce96`] takes.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold_crc(v: __m128i, k: usize) -> __m128i {
        fold_by(v, FOLDS_CRC[k])
    }

    /// `v · x^32 mod P`, up to 96 bits (the form [`reduce96`] takes): the low half (a factor
    /// `x^64` in the block) times `x^96 mod P`, that is `rk(96)`, plus the high half, which times
    /// `x^32` is already within 96 bits.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn last_crc(v: __m128i) -> __m128i {
        let k = constant(FOLD[1].1, 0);
        _mm_xor_si128(_mm_clmulepi64_si128(v, k, 0x00), _mm_srli_si128(v, 8))
    }

    /// The 16 bytes at `p[at..at + 16]`.
    #[inline(always)]
    fn load(p: &[u8], at: usize) -> __m128i {
        let b = &p[at..at + 16];
        // SAFETY: `b` is 16 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    /// CRC-32 of `timestamp ‖ size ‖ payload` (FORMAT.md 5).
    ///
    /// # Safety
    /// The CPU must have pclmulqdq, SSSE3 and SSE4.1.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn entry_crc(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
        // The first block: 4 zero bytes, then `timestamp ‖ size` with the initial value
        // 0xFFFFFFFF XORed into the first 4 message bytes (the low half of the timestamp).
        let ts = timestamp as u64 ^ 0xFFFF_FFFF;
        let first = constant(ts << 32, (ts >> 32) | (size as u64) << 32);
        let p = payload;
        let n = p.len();
        let blocks = n / 16;
        let r = n % 16;
        if r == 0 && blocks < 8 {
            // Every block folded straight to a 96-bit remainder of the CRC (no 128-bit step).
            return !reduce96(match blocks {
                0 => last_crc(first),
                1 => combine::<1, true>(first, p),
                2 => combine::<2, true>(first, p),
                3 => combine::<3, true>(first, p),
                4 => combine::<4, true>(first, p),
                5 => combine::<5, true>(first, p),
                6 => combine::<6, true>(first, p),
                _ => combine::<7, true>(first, p),
            });
        }
        let mut x;
        if blocks < 8 {
            // Up to 8 blocks, each folded over the distance to the last one, all independent.
            // (The block count as a constant: the loop unrolls, the constants are immediates.)
            x = match blocks {
                0 => first,
                1 => combine::<1, false>(first, p),
                2 => combine::<2, false>(first, p),
                3 => combine::<3, false>(first, p),
                4 => combine::<4, false>(first, p),
                5 => combine::<5, false>(first, p),
                6 => combine::<6, false>(first, p),
                _ => combine::<7, false>(first, p),
            };
        } else {
            // Four lanes, each folded over four blocks at a time, then combined.
            let mut a0 = first;
            let mut a1 = load(p, 0);
            let mut a2 = load(p, 16);
            let mut a3 = load(p, 32);
            let mut i = 3; // blocks of `p` consumed
            while blocks - i >= 4 {
                let at = 16 * i;
                a0 = _mm_xor_si128(fold(a0, 4), load(p, at));
                a1 = _mm_xor_si128(fold(a1, 4), load(p, at + 16));
                a2 = _mm_xor_si128(fold(a2, 4), load(p, at + 32));
                a3 = _mm_xor_si128(fold(a3, 4), load(p, at + 48));
                i += 4;
            }
            let lanes = [a0, a1, a2, a3];
            if r == 0 {
                return !reduce96(lanes_end::<true>(lanes, p, i));
            }
            x = lanes_end::<false>(lanes, p, i);
        }
        if r != 0 {
            // The last `r` bytes: x · x^(8r) + tail. The 16 bytes ending at the tail (its last
            // `r` bytes are the tail; the others are masked off below).
            let last = if n >= 16 {
                load(p, n - 16)
            } else {
                tail_block(p)
            };
            // SAFETY: `16 + r` and `r` are in 1..32, so each 16-byte load is inside `SHIFT`.
            let (right, left) = unsafe {
                (
                    _mm_loadu_si128(SHIFT.as_ptr().add(16 + r).cast()),
                    _mm_loadu_si128(SHIFT.as_ptr().add(r).cast()),
                )
            };
            // The part of `x` that stays within the last block, then the tail after it.
            let low = _mm_blendv_epi8(_mm_shuffle_epi8(x, right), last, right);
            // The part pushed out past it: its first `r` bytes, as a block of their own.
            let high = _mm_shuffle_epi8(x, left);
            x = _mm_xor_si128(fold(high, 1), low);
        }
        !reduce(x)
    }

    /// `v · x^(128·k)` (up to 128 bits) or, with `CRC`, `v · x^(128·k) · x^32` (up to 96 bits,
    /// the form [`reduce96`] takes).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold_to<const CRC: bool>(v: __m128i, k: usize) -> __m128i {
        if CRC {
            fold_crc(v, k)
        } else {
            fold(v, k)
        }
    }

    /// The last block as is, or with `CRC`, times `x^32` (up to 96 bits, see [`last_crc`]).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn last_to<const CRC: bool>(v: __m128i) -> __m128i {
        if CRC {
            last_crc(v)
        } else {
            v
        }
    }

    /// `first` followed by the `B` blocks at the start of `p` (1 <= B <= 7), folded to one block
    /// (with `CRC`, to the 96-bit form of [`reduce96`]).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn combine<const B: usize, const CRC: bool>(first: __m128i, p: &[u8]) -> __m128i {
        let p = &p[..16 * B];
        // Two accumulators, so that the XORs after the last products form two short chains.
        let mut even = fold_to::<CRC>(first, B);
        let mut odd = last_to::<CRC>(load(p, 16 * (B - 1)));
        let mut i = 0;
        while i + 1 < B {
            let f = fold_to::<CRC>(load(p, 16 * i), B - 1 - i);
            if i % 2 == 0 {
                odd = _mm_xor_si128(odd, f);
            } else {
                even = _mm_xor_si128(even, f);
            }
            i += 1;
        }
        _mm_xor_si128(even, odd)
    }

    /// Four lanes of consecutive blocks (the last at block `i - 1` of `p`) and the blocks after
    /// them up to the last whole one, folded to one block (with `CRC`, to the form of
    /// [`reduce96`]).
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn lanes_end<const CRC: bool>(lanes: [__m128i; 4], p: &[u8], i: usize) -> __m128i {
        let blocks = p.len() / 16;
        let rest = blocks - i; // 0..=3
        let [a0, a1, a2, a3] = lanes;
        let mut acc = if rest == 0 {
            last_to::<CRC>(a3)
        } else {
            let mut acc = last_to::<CRC>(load(p, 16 * (blocks - 1)));
            acc = _mm_xor_si128(acc, fold_to::<CRC>(a3, rest));
            let mut j = 0;
            while j + 1 < rest {
                acc = _mm_xor_si128(acc, fold_to::<CRC>(load(p, 16 * (i + j)), rest - 1 - j));
                j += 1;
            }
            acc
        };
        acc = _mm_xor_si128(acc, fold_to::<CRC>(a0, rest + 3));
        acc = _mm_xor_si128(acc, fold_to::<CRC>(a1, rest + 2));
        acc = _mm_xor_si128(acc, fold_to::<CRC>(a2, rest + 1));
        acc
    }

    /// A block whose last `n` bytes are `p` (`n = p.len()`, 1..=15); the other bytes are
    /// unspecified.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn tail_block(p: &[u8]) -> __m128i {
        let n = p.len();
        let u64_at = |at: usize| u64::from_le_bytes(p[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(p[at..at + 4].try_into().unwrap()) as u64;
        let hi = if n >= 8 {
            u64_at(n - 8)
        } else if n >= 4 {
            // p[0..4] at bytes 8-n.., p[n-4..n] at bytes 4..8: the overlap holds equal bytes.
            (u32_at(0) << (8 * (8 - n))) | (u32_at(n - 4) << 32)
        } else {
            // n = 1..3: bytes 8-n, 8-n+n/2 and 7 cover all three positions.
            ((p[0] as u64) << (8 * (8 - n)))
                | ((p[n / 2] as u64) << (8 * (8 - n + n / 2)))
                | ((p[n - 1] as u64) << 56)
        };
        // For n >= 8: p[0..n-8] at bytes 16-n..8 (for n = 8 the shift is masked to 0 and all of
        // `lo` is unused).
        let lo = if n > 8 {
            u64_at(0).wrapping_shl(8 * (16 - n as u32))
        } else {
            0
        };
        constant(lo, hi)
    }

    /// The CRC register (before the final inversion) of a message whose remainder is the 128-bit
    /// block `x`: `x · x^32 mod P`.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2,sse4.1")]
    fn reduce(x: __m128i) -> u32 {
        reduce96(last_crc(x))
    }

    /// `v mod P` for `v` of at most 96 bits (bit `t` the coefficient of `x^(95-t)`), reflected.
    ///
    /// One Barrett step for the whole 96 bits: with `T = floor(v / x^32)` (the low 64 bits of the
    /// register) and `mu = floor(x^96 / P) = x^64 + mu'`, the quotient is `q = floor(T · mu / x^64)
    /// = T + floor(T · mu' / x^64)`, exact because `v` has fewer than 96 bits, and the remainder is
    /// the low 32 bits of `v + q · P`. Two dependent multiplications (`T · mu'`, whose reflected
    /// constant is shifted so that the quotient bits come out aligned with `T`, then `q · P`),
    /// where a fold to 64 bits and a 64-bit Barrett reduction take three.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2,sse4.1")]
    fn reduce96(v: __m128i) -> u32 {
        let k = constant(MU96, P_REFLECTED);
        // Low half: q. (The high half is unused: the next product takes the low one.)
        let q = _mm_xor_si128(v, _mm_clmulepi64_si128(v, k, 0x00));
        // Bits 64..96: the remainder, bit 64 + i the coefficient of x^(31-i).
        let r = _mm_xor_si128(v, _mm_clmulepi64_si128(q, k, 0x10));
        _mm_extract_epi32(r, 2) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    fn reference(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&timestamp.to_le_bytes());
        h.update(&size.to_le_bytes());
        h.update(payload);
        h.finalize()
    }

    #[test]
    fn constants_are_the_published_ones() {
        // Intel's white paper and the Linux kernel's crc32-pclmul for 0xEDB88320.
        assert_eq!(FOLD[4], (0x1_5444_2BD4, 0x1_C6E4_1596));
        assert_eq!(FOLD[1], (0x1_7519_97D0, 0x0_CCAA_009E));
    }

    /// Carry-less product, normal bit order.
    fn clmul(a: u128, b: u128) -> u128 {
        (0..128)
            .filter(|i| b >> i & 1 == 1)
            .fold(0, |acc, i| acc ^ a << i)
    }

    #[test]
    fn the_barrett_constant_is_the_quotient_of_x96_by_p() {
        // Back to the normal order, with the x^64 term: mu = x^64 + mu'.
        let mu = 1u128 << 64 | (MU96 >> 1).reverse_bits() as u128;
        // x^96 - mu · P is the remainder: below x^32.
        let rem = (1u128 << 96) ^ clmul(mu, 0x1_04C1_1DB7);
        assert!(rem < 1 << 32, "{rem:#x}");
    }

    #[test]
    fn check_values() {
        // FORMAT.md 12.
        assert_eq!(
            entry_crc(1_700_000_000_000_000_123, 5, b"hello"),
            0xA259_9772
        );
        assert_eq!(entry_crc(1_700_000_000_000_004_567, 0, b""), 0x29F7_5C1F);
        // FORMAT.md 5: twelve zero bytes.
        assert_eq!(entry_crc(0, 0, b""), 0x7BD5_C66F);
        assert_eq!(entry_crc_fallback(0, 0, b""), 0x7BD5_C66F);
    }

    #[test]
    fn equals_crc32fast_at_every_length_and_alignment() {
        let fast_available = entry_crc_accelerated(0, 0, &[]).is_some();
        if std::env::var_os("CI").is_some() && cfg!(target_arch = "x86_64") {
            assert!(fast_available, "the CI machines have pclmulqdq");
        }
        let buf = noise(0x5EED, 2048 + 64);
        for n in 0..=2048usize {
            for misalign in [0usize, 1, 3, 7, 8, 13] {
                let p = &buf[misalign..misalign + n];
                let ts = (n as i64).wrapping_mul(-0x0123_4567_89AB_CDEF) ^ misalign as i64;
                let size = if misalign == 13 {
                    u32::MAX - n as u32
                } else {
                    n as u32
                };
                let want = reference(ts, size, p);
                assert_eq!(entry_crc(ts, size, p), want, "n={n} misalign={misalign}");
                assert_eq!(entry_crc_fallback(ts, size, p), want, "n={n}");
                if let Some(got) = entry_crc_accelerated(ts, size, p) {
                    assert_eq!(got, want, "accelerated, n={n} misalign={misalign}");
                }
            }
        }
    }

    #[test]
    fn equals_crc32fast_on_extreme_contents() {
        for fill in [0x00u8, 0xFF, 0x80, 0x01] {
            for n in 0..=300usize {
                let p = vec![fill; n];
                for ts in [0i64, -1, i64::MIN, i64::MAX] {
                    let want = reference(ts, n as u32, &p);
                    assert_eq!(entry_crc(ts, n as u32, &p), want, "fill={fill} n={n}");
                }
            }
        }
    }

    #[test]
    fn a_single_flipped_bit_changes_the_checksum() {
        let p = noise(7, 200);
        let base = entry_crc(42, 200, &p);
        for bit in 0..200 * 8 {
            let mut q = p.clone();
            q[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(entry_crc(42, 200, &q), base, "bit {bit}");
        }
    }
}
