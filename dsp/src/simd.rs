//! Runtime choice of instruction set for the hot inner loops.
//!
//! The crate is built for the baseline target (SSE2 on x86-64), so the plugin runs on
//! any x86-64. Loops that gain from wider vectors or fused multiply-adds are written
//! once, generic over `const FMA: bool` with [`madd`], and compiled a second time
//! inside a `#[target_feature(enable = "avx2,fma")]` function selected at run time by
//! [`Isa::detect`] (what `-C target-cpu=native` would give those loops). The two copies
//! agree to rounding: a fused multiply-add rounds once where `a·b + c` rounds twice.

/// Instruction set used for the inner loops, chosen once at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Baseline target features only.
    Generic,
    /// x86-64 with AVX2 and FMA (checked with `is_x86_feature_detected!`).
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Isa {
    /// Detects the best available instruction set (reads the CPUID cache; no syscall).
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        Isa::Generic
    }
}

/// `a · b + c`, fused when `FMA` (only used where the target has FMA in hardware;
/// elsewhere `mul_add` would be a slow library call).
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// [`madd`] in double precision.
#[inline(always)]
pub(crate) fn madd64<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `Σ a[j]·b[j]` over the shorter slice, with four partial sums (so it vectorizes),
/// on the instruction set `isa`.
#[inline(always)]
pub(crate) fn dot64(isa: Isa, a: &[f64], b: &[f64]) -> f64 {
    match isa {
        Isa::Generic => dot64_with::<false>(a, b),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2Fma` comes only from `Isa::detect`, which checked that this
        // CPU has AVX2 and FMA.
        Isa::Avx2Fma => unsafe { dot64_avx2(a, b) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot64_avx2(a: &[f64], b: &[f64]) -> f64 {
    dot64_with::<true>(a, b)
}

/// [`dot64`] compiled for the caller's target, fused when `FMA`.
#[inline(always)]
pub(crate) fn dot64_with<const FMA: bool>(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    for (ac, bc) in a4.zip(b4) {
        for l in 0..4 {
            acc[l] = madd64::<FMA>(ac[l], bc[l], acc[l]);
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot64_matches_the_plain_sum_on_every_isa() {
        for n in [0, 1, 3, 4, 7, 33, 120] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n + 2).map(|i| (i as f64 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            for isa in [Isa::Generic, Isa::detect()] {
                assert!((dot64(isa, &a, &b) - want).abs() < 1e-12, "n {n}, {isa:?}");
            }
        }
    }
}
