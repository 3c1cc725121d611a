//! Weighted destination choice as Envoy makes it (WT-1..WT-3), from a
//! number the caller draws.

/// Envoy's pick among weighted clusters (WT-3): `r = dice mod Σw`; walk the
/// weights in order accumulating; the first whose cumulative bound exceeds
/// `r` wins. `None` when every weight is zero (Envoy rejects such a
/// route, WT-2). A single destination is always picked (WT-1).
///
/// `dice` is any number in `0..2^32`: a caller that draws it uniformly gets
/// each destination with probability `wᵢ/Σw` (up to the bias of `mod`,
/// below `Σw/2^32`).
///
/// ```
/// use mesh_route::weighted::pick;
/// assert_eq!(pick(&[80, 20], 0), Some(0));
/// assert_eq!(pick(&[80, 20], 79), Some(0));
/// assert_eq!(pick(&[80, 20], 80), Some(1));
/// assert_eq!(pick(&[80, 20], 100), Some(0));
/// assert_eq!(pick(&[0, 0], 5), None);
/// assert_eq!(pick(&[0], 5), Some(0));
/// ```
pub fn pick(weights: &[u32], dice: u32) -> Option<usize> {
    if weights.len() == 1 {
        return Some(0);
    }
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let r = u64::from(dice) % total;
    let mut acc = 0u64;
    for (i, w) in weights.iter().enumerate() {
        acc += u64::from(*w);
        if r < acc {
            return Some(i);
        }
    }
    None
}
