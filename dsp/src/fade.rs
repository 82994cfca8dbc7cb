//! The shape of on/off cross-fades that remove part of the signal (an HP/LP band
//! switched on, the noise reduction): the dry share falls linearly in dB, not in
//! amplitude.
//!
//! **Why.** A bake often switches a stage on while it raises the output trim, and the
//! trim glides in dB. With a linear-amplitude fade the part the stage removes is
//! `(1 − t)·G^t` of its level at time `t` of the glide, which rises above 1 for any
//! trim step `G` over `e` (8.7 dB): with +20 dB it swells by 4 dB, and with a trim
//! that glided linearly in amplitude by 9 dB, before it falls away: a hiss or a
//! rumble that flares for 20 ms. With the dry share `10^(−R·t/20)` the product is
//! `10^((20·log10 G − R)·t/20)`, which never rises while `R` (60 dB) exceeds the trim
//! step (at most 48 dB).

/// Depth of the fade in dB: the dry share falls from 0 dB to −this linearly in dB
/// over the glide; the last step, from −60 dB to nothing, is inaudible.
pub const BLEND_RANGE_DB: f64 = 60.0;

/// The wet proportion `m` (0 = dry, 1 = processed) at fade position `u` (0..=1,
/// moving linearly over the glide): the dry share `1 − m` is `10^(−R·u/20)` rescaled
/// to be exactly 1 at `u = 0` and exactly 0 at `u = 1` (`R` = [`BLEND_RANGE_DB`]).
/// Monotone and exact at both ends, so settled stages compare equal to 0 or 1; NaN
/// counts as 0.
pub fn blend_wet(u: f64) -> f64 {
    if u.is_nan() || u <= 0.0 {
        return 0.0;
    }
    if u >= 1.0 {
        return 1.0;
    }
    let floor = 10f64.powf(-BLEND_RANGE_DB / 20.0);
    let dry = (10f64.powf(-BLEND_RANGE_DB * u / 20.0) - floor) / (1.0 - floor);
    1.0 - dry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_share_falls_linearly_in_db_and_is_exact_at_the_ends() {
        assert_eq!(blend_wet(0.0), 0.0);
        assert_eq!(blend_wet(1.0), 1.0);
        assert_eq!(blend_wet(-0.5), 0.0);
        assert_eq!(blend_wet(f64::NAN), 0.0);
        let mut last = 0.0;
        for i in 1..100 {
            let u = f64::from(i) / 100.0;
            let m = blend_wet(u);
            assert!(m > last, "not monotone at {u}");
            last = m;
            // Within 0.3 dB of the straight line while the rescaling's floor is
            // 30 dB or more below.
            if u <= 0.5 {
                let db = 20.0 * (1.0 - m).log10();
                assert!((db + BLEND_RANGE_DB * u).abs() < 0.3, "{u}: {db} dB");
            }
        }
    }
}
