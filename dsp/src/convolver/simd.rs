//! The convolver's two hot inner loops (complex multiply-accumulate of split
//! re/im spectra, 64-tap FIR dot product) with runtime AVX2+FMA dispatch.
//!
//! The loops are plain index loops over equal-length slices, which LLVM
//! vectorizes for the baseline target (SSE2 on x86-64). On x86-64 CPUs that have
//! AVX2 and FMA (detected once, in `Convolver::new`), the same source is compiled a
//! second time inside a `#[target_feature(enable = "avx2,fma")]` function and uses
//! fused multiply-adds, so the plugin runs on any x86-64 and still gets the wide
//! vectors where they exist (what `-C target-cpu=native` would give these loops).

use crate::simd::{madd, Isa};

#[inline(always)]
fn mac_body<const FMA: bool>(
    acc_re: &mut [f32],
    acc_im: &mut [f32],
    x_re: &[f32],
    x_im: &[f32],
    h_re: &[f32],
    h_im: &[f32],
) {
    let n = acc_re
        .len()
        .min(acc_im.len())
        .min(x_re.len())
        .min(x_im.len())
        .min(h_re.len())
        .min(h_im.len());
    let (acc_re, acc_im) = (&mut acc_re[..n], &mut acc_im[..n]);
    let (x_re, x_im, h_re, h_im) = (&x_re[..n], &x_im[..n], &h_re[..n], &h_im[..n]);
    for i in 0..n {
        let (xr, xi, hr, hi) = (x_re[i], x_im[i], h_re[i], h_im[i]);
        acc_re[i] = madd::<FMA>(-xi, hi, madd::<FMA>(xr, hr, acc_re[i]));
        acc_im[i] = madd::<FMA>(xi, hr, madd::<FMA>(xr, hi, acc_im[i]));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn mac_avx2(
    acc_re: &mut [f32],
    acc_im: &mut [f32],
    x_re: &[f32],
    x_im: &[f32],
    h_re: &[f32],
    h_im: &[f32],
) {
    mac_body::<true>(acc_re, acc_im, x_re, x_im, h_re, h_im);
}

/// Complex multiply-accumulate on split spectra: `acc += x · h` bin by bin, over
/// the shortest of the six slices (all have `P + 1` bins in practice).
#[inline]
pub(crate) fn mac(
    isa: Isa,
    acc_re: &mut [f32],
    acc_im: &mut [f32],
    x_re: &[f32],
    x_im: &[f32],
    h_re: &[f32],
    h_im: &[f32],
) {
    match isa {
        Isa::Generic => mac_body::<false>(acc_re, acc_im, x_re, x_im, h_re, h_im),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2Fma` is only constructed by `Isa::detect` after
        // `is_x86_feature_detected!` confirmed AVX2 and FMA on this CPU.
        Isa::Avx2Fma => unsafe { mac_avx2(acc_re, acc_im, x_re, x_im, h_re, h_im) },
    }
}

/// Number of taps of the head FIR (the first base partition, computed in the time domain).
pub(crate) const FIR_TAPS: usize = 64;

#[inline(always)]
fn fir_body<const FMA: bool>(taps_rev: &[f32; FIR_TAPS], history: &[f32], out: &mut [f32]) {
    // out[i] = Σ_k taps_rev[k] · history[i + k]; `history` holds FIR_TAPS − 1 + out.len() samples.
    for (i, y) in out.iter_mut().enumerate() {
        let Some(window) = history.get(i..i + FIR_TAPS) else {
            *y = 0.0;
            continue;
        };
        let mut lanes = [0.0f32; 16];
        for (t, w) in taps_rev.chunks_exact(16).zip(window.chunks_exact(16)) {
            for l in 0..16 {
                lanes[l] = madd::<FMA>(t[l], w[l], lanes[l]);
            }
        }
        let mut s = 0.0;
        for l in lanes {
            s += l;
        }
        *y = s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fir_avx2(taps_rev: &[f32; FIR_TAPS], history: &[f32], out: &mut [f32]) {
    fir_body::<true>(taps_rev, history, out);
}

/// Direct-form FIR over a short run: `out[i] = Σ_k taps_rev[k] · history[i + k]`,
/// i.e. a 64-tap convolution with the taps stored time-reversed and `history`
/// holding the 63 samples before the run followed by the run itself.
/// Outputs whose window would run past `history` are 0.
#[inline]
pub(crate) fn fir(isa: Isa, taps_rev: &[f32; FIR_TAPS], history: &[f32], out: &mut [f32]) {
    match isa {
        Isa::Generic => fir_body::<false>(taps_rev, history, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: see `mac`.
        Isa::Avx2Fma => unsafe { fir_avx2(taps_rev, history, out) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_matches_complex_arithmetic_on_every_isa() {
        let n = 67;
        let f = |i: usize, s: f32| (i as f32 * 0.37 + s).sin();
        let x_re: Vec<f32> = (0..n).map(|i| f(i, 0.1)).collect();
        let x_im: Vec<f32> = (0..n).map(|i| f(i, 1.3)).collect();
        let h_re: Vec<f32> = (0..n).map(|i| f(i, 2.9)).collect();
        let h_im: Vec<f32> = (0..n).map(|i| f(i, 4.1)).collect();
        for isa in [Isa::Generic, Isa::detect()] {
            let mut a_re = vec![0.5f32; n];
            let mut a_im = vec![-0.25f32; n];
            mac(isa, &mut a_re, &mut a_im, &x_re, &x_im, &h_re, &h_im);
            for i in 0..n {
                let re = 0.5 + x_re[i] * h_re[i] - x_im[i] * h_im[i];
                let im = -0.25 + x_re[i] * h_im[i] + x_im[i] * h_re[i];
                assert!((a_re[i] - re).abs() < 1e-6 && (a_im[i] - im).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn fir_matches_direct_sum_on_every_isa() {
        let mut taps = [0.0f32; FIR_TAPS];
        for (k, t) in taps.iter_mut().enumerate() {
            *t = (k as f32 * 0.71).cos() / (1.0 + k as f32);
        }
        let history: Vec<f32> = (0..FIR_TAPS - 1 + 20)
            .map(|i| (i as f32 * 0.13).sin())
            .collect();
        for isa in [Isa::Generic, Isa::detect()] {
            let mut out = [0.0f32; 20];
            fir(isa, &taps, &history, &mut out);
            for (i, y) in out.iter().enumerate() {
                let want: f32 = (0..FIR_TAPS).map(|k| taps[k] * history[i + k]).sum();
                assert!((y - want).abs() < 1e-5);
            }
        }
    }
}
