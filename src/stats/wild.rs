//! Stacked weighted regressions with clinic-clustered inference and the
//! restricted wild cluster bootstrap (issue 17).
//!
//! A model is one or more *blocks*, each a WLS fit on its own rows (the
//! event study has one block per event time, the ITS and each DiD one); all
//! blocks share the clusters (clinics). A hypothesis is a linear combination
//! r'β = θ0 of coefficients from any blocks; its CR1 error is that of the
//! stacked regression, f · Σ_g (r'A s_g)², with A the (block-diagonal) bread,
//! s_g cluster g's score X_g'W_g û_g and f = G/(G−1) · (N−1)/(N−K).
//!
//! The bootstrap is the restricted one (WCR; Cameron, Gelbach & Miller 2008;
//! MacKinnon, Nielsen & Webb 2023) with Webb's six-point weights: the null
//! r'β = θ0 is imposed, each clinic's restricted residuals are multiplied by
//! one draw v_g, the model is refitted and studentized with the replicate's
//! own CR1 error. p is the share of replicates with |t*| ≥ |t|; the 95%
//! interval is every θ0 that the test does not reject at 5% (test
//! inversion). Everything is linear in λ = r'β̂ − θ0, so each replicate is
//! kept as five numbers and any θ0 is tested in O(B) without refitting.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One weighted least-squares fit with its per-cluster pieces.
#[derive(Clone, Debug)]
pub struct Block {
    pub beta: DVector<f64>,
    /// (X'WX)⁻¹.
    bread: DMatrix<f64>,
    /// Per cluster: (cluster, X_g'W_g û_g, X_g'W_g X_g).
    pieces: Vec<(usize, DVector<f64>, DMatrix<f64>)>,
    pub n: usize,
}

impl Block {
    /// Fit `y` on the rows of `x` with weights `w` and clusters `g`; `None`
    /// when there are no more rows than coefficients or the design is singular.
    pub fn fit(x: &[Vec<f64>], y: &[f64], w: &[f64], g: &[usize]) -> Option<Block> {
        let (n, k) = (y.len(), x.first().map_or(0, Vec::len));
        if n <= k || k == 0 {
            return None;
        }
        let xm = DMatrix::from_fn(n, k, |i, j| x[i][j]);
        let xw = DMatrix::from_fn(n, k, |i, j| x[i][j] * w[i]);
        let bread = (xw.transpose() * &xm).try_inverse()?;
        let beta = &bread * (xw.transpose() * DVector::from_column_slice(y));
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| g[i]);
        let mut pieces: Vec<(usize, DVector<f64>, DMatrix<f64>)> = Vec::new();
        for i in order {
            if pieces.last().is_none_or(|p| p.0 != g[i]) {
                pieces.push((g[i], DVector::zeros(k), DMatrix::zeros(k, k)));
            }
            let p = pieces.last_mut().expect("pushed");
            let u = y[i] - (0..k).map(|j| x[i][j] * beta[j]).sum::<f64>();
            for a in 0..k {
                p.1[a] += x[i][a] * w[i] * u;
                for b in 0..k {
                    p.2[(a, b)] += x[i][a] * w[i] * x[i][b];
                }
            }
        }
        Some(Block { beta, bread, pieces, n })
    }
    /// Clusters with rows in the block.
    pub fn clusters(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces.iter().map(|p| p.0)
    }
}

/// A linear hypothesis: Σ a · β[block][coefficient].
#[derive(Clone, Debug)]
pub struct Hyp {
    pub terms: Vec<(usize, usize, f64)>,
}

impl Hyp {
    /// One coefficient of one block.
    pub fn coef(block: usize, k: usize) -> Hyp {
        Hyp { terms: vec![(block, k, 1.0)] }
    }
}

/// A tested hypothesis: estimate, CR1 error, clinics and df, and the
/// bootstrap replicates when drawn.
#[derive(Clone, Debug)]
pub struct Tested {
    pub estimate: f64,
    pub se: f64,
    /// Clinics with rows in the hypothesis' blocks.
    pub clusters: usize,
    /// Per replicate (n0, n1, P0, P1, P2): t*(λ) = (n0 + λ·n1) / √(f·(P0 + 2λ·P1 + λ²·P2)).
    reps: Vec<[f64; 5]>,
    factor: f64,
}

/// Per block of a hypothesis, flattened for the replicates: the bread A_b,
/// r_b'A_b, and per cluster g its score ŝ_g, H_g z (z = A_b r_b / r'Ar, the
/// direction the restriction moves β_b), r'A ŝ_g, r'A H_g z and r'A H_g.
struct Part<'a> {
    block: &'a Block,
    k: usize,
    bread: Vec<f64>,
    ra: Vec<f64>,
    clusters: Vec<usize>,
    s: Vec<f64>,
    hz: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    rho: Vec<f64>,
}

/// The CR1 factor of the stacked regression over `blocks`.
fn factor(blocks: &[&Block], clusters: usize) -> f64 {
    let n: usize = blocks.iter().map(|b| b.n).sum();
    let k: usize = blocks.iter().map(|b| b.beta.len()).sum();
    let (g, n, k) = (clusters as f64, n as f64, k as f64);
    if g < 2.0 || n <= k {
        return 1.0;
    }
    g / (g - 1.0) * (n - 1.0) / (n - k)
}

/// Estimate and CR1 error of `h` over `blocks`, without replicates.
pub fn test(blocks: &[Block], h: &Hyp, n_clusters: usize) -> Tested {
    let parts = parts(blocks, h);
    let mut score = vec![0.0; n_clusters];
    let mut used = vec![false; n_clusters];
    for p in &parts {
        for (i, &c) in p.clusters.iter().enumerate() {
            score[c] += p.a[i];
            used[c] = true;
        }
    }
    let clusters = used.iter().filter(|u| **u).count();
    let bs: Vec<&Block> = parts.iter().map(|p| p.block).collect();
    let f = factor(&bs, clusters);
    let estimate = h.terms.iter().map(|&(b, k, a)| a * blocks[b].beta[k]).sum();
    let se = (f * score.iter().map(|x| x * x).sum::<f64>()).sqrt();
    Tested { estimate, se, clusters, reps: Vec::new(), factor: f }
}

/// The blocks of a hypothesis, prepared for the replicates.
fn parts<'a>(blocks: &'a [Block], h: &Hyp) -> Vec<Part<'a>> {
    let mut ids: Vec<usize> = h.terms.iter().map(|t| t.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let rs: Vec<DVector<f64>> = ids
        .iter()
        .map(|&b| {
            let mut r = DVector::zeros(blocks[b].beta.len());
            for &(_, j, a) in h.terms.iter().filter(|t| t.0 == b) {
                r[j] += a;
            }
            r
        })
        .collect();
    let rar: f64 = ids.iter().zip(&rs).map(|(&b, r)| r.dot(&(&blocks[b].bread * r))).sum();
    ids.iter().zip(&rs).map(|(&b, r)| part(&blocks[b], r, rar)).collect()
}

/// One block's [`Part`].
fn part<'a>(block: &'a Block, r: &DVector<f64>, rar: f64) -> Part<'a> {
    let k = block.beta.len();
    let ra = block.bread.transpose() * r;
    let z = &block.bread * r / if rar > 0.0 { rar } else { 1.0 };
    let mut p = Part {
        block,
        k,
        bread: (0..k * k).map(|i| block.bread[(i / k, i % k)]).collect(),
        ra: ra.iter().copied().collect(),
        clusters: Vec::new(),
        s: Vec::new(),
        hz: Vec::new(),
        a: Vec::new(),
        b: Vec::new(),
        rho: Vec::new(),
    };
    for (c, s, h) in &block.pieces {
        let hz = h * &z;
        p.clusters.push(*c);
        p.s.extend(s.iter());
        p.a.push(ra.dot(s));
        p.b.push(ra.dot(&hz));
        p.hz.extend(hz.iter());
        p.rho.extend((h.transpose() * &ra).iter());
    }
    p
}

/// Webb's six-point weights: ±√(3/2), ±1, ±√(1/2), each with probability 1/6.
pub fn webb_weights() -> [f64; 6] {
    let (a, b) = (1.5f64.sqrt(), 0.5f64.sqrt());
    [-a, -1.0, -b, b, 1.0, a]
}

/// How a model's bootstrap runs.
#[derive(Clone, Copy, Debug)]
pub struct Boot {
    pub reps: u32,
    pub seed: u64,
}

/// Draw the replicates of every hypothesis of one model: one Webb draw per
/// clinic and replication serves them all (combinations and joint tests
/// stay coherent).
pub fn bootstrap(blocks: &[Block], hyps: &[Hyp], n_clusters: usize, boot: Boot) -> Vec<Tested> {
    let w = webb_weights();
    let mut rng = ChaCha8Rng::seed_from_u64(boot.seed);
    let mut tested: Vec<Tested> = hyps.iter().map(|h| test(blocks, h, n_clusters)).collect();
    let prepared: Vec<Vec<Part>> = hyps.iter().map(|h| parts(blocks, h)).collect();
    assert!(prepared.iter().flatten().all(|p| p.k <= 8), "blocks of at most 8 coefficients");
    let (mut v, mut p0, mut p1) = (vec![0.0; n_clusters], vec![0.0; n_clusters], vec![0.0; n_clusters]);
    for _ in 0..boot.reps {
        for x in v.iter_mut() {
            *x = w[rng.random_range(0..6usize)];
        }
        for (t, parts) in tested.iter_mut().zip(&prepared) {
            t.reps.push(replicate(parts, &v, &mut p0, &mut p1));
        }
    }
    tested
}

/// One replicate of one hypothesis as (n0, n1, P0, P1, P2): with
/// restricted scores s̃_g = ŝ_g + λ·H_g z, δ* = A Σ v_g s̃_g = d0 + λ·d1,
/// numerator r'δ* = n0 + λ·n1, cluster scores r'A (v_g s̃_g − H_g δ*) =
/// p0_g + λ·p1_g. `p0`, `p1` are scratch of one entry per cluster.
fn replicate(parts: &[Part], v: &[f64], p0: &mut [f64], p1: &mut [f64]) -> [f64; 5] {
    // p0, p1 arrive zeroed and are left zeroed.
    let (mut n0, mut n1) = (0.0, 0.0);
    for part in parts {
        let k = part.k;
        let (mut s0, mut s1) = ([0.0; 8], [0.0; 8]);
        for (i, &c) in part.clusters.iter().enumerate() {
            for j in 0..k {
                s0[j] += v[c] * part.s[i * k + j];
                s1[j] += v[c] * part.hz[i * k + j];
            }
        }
        let (mut d0, mut d1) = ([0.0; 8], [0.0; 8]);
        for a in 0..k {
            for j in 0..k {
                d0[a] += part.bread[a * k + j] * s0[j];
                d1[a] += part.bread[a * k + j] * s1[j];
            }
            // r'δ* = r'A Σ v s̃ = ra · (s0 + λ s1).
            n0 += part.ra[a] * s0[a];
            n1 += part.ra[a] * s1[a];
        }
        for (i, &c) in part.clusters.iter().enumerate() {
            let rho = &part.rho[i * k..(i + 1) * k];
            let (r0, r1) = (0..k).fold((0.0, 0.0), |(x, y), j| (x + rho[j] * d0[j], y + rho[j] * d1[j]));
            p0[c] += v[c] * part.a[i] - r0;
            p1[c] += v[c] * part.b[i] - r1;
        }
    }
    // Read each cluster's total once and leave the scratch zeroed.
    let (mut q0, mut q1, mut q2) = (0.0, 0.0, 0.0);
    for part in parts {
        for &c in &part.clusters {
            q0 += p0[c] * p0[c];
            q1 += p0[c] * p1[c];
            q2 += p1[c] * p1[c];
            (p0[c], p1[c]) = (0.0, 0.0);
        }
    }
    [n0, n1, q0, q1, q2]
}

impl Tested {
    /// Whether replicates were drawn.
    pub fn bootstrapped(&self) -> bool {
        !self.reps.is_empty()
    }
    /// |t*| of every replicate under θ0 = estimate − λ.
    pub fn abs_t_star(&self, lambda: f64) -> impl Iterator<Item = f64> + '_ {
        self.reps.iter().map(move |r| {
            let var = self.factor * (r[2] + 2.0 * lambda * r[3] + lambda * lambda * r[4]);
            if var > 0.0 {
                ((r[0] + lambda * r[1]) / var.sqrt()).abs()
            } else {
                0.0
            }
        })
    }
    /// The bootstrap p of H0: θ = θ0.
    pub fn p_at(&self, theta0: f64) -> f64 {
        let lambda = self.estimate - theta0;
        if self.se <= 0.0 {
            return if lambda == 0.0 { 1.0 } else { 0.0 };
        }
        let t = (lambda / self.se).abs();
        let hits = self.abs_t_star(lambda).filter(|x| *x >= t).count();
        hits as f64 / self.reps.len() as f64
    }
    /// The 95% interval by inverting the bootstrap test: the θ0 where p
    /// falls to 5% on either side of the estimate (bisection, to 1e-10 of
    /// the standard error); `None` when p never falls that low.
    pub fn interval(&self) -> Option<(f64, f64)> {
        if self.se <= 0.0 {
            return Some((self.estimate, self.estimate));
        }
        let bound = |dir: f64| -> Option<f64> {
            let rejects = |d: f64| self.p_at(self.estimate + dir * d) <= 0.05;
            let mut hi = self.se;
            let mut tries = 0;
            while !rejects(hi) {
                hi *= 2.0;
                tries += 1;
                if tries > 60 {
                    return None;
                }
            }
            let mut lo = 0.0;
            while hi - lo > 1e-10 * self.se {
                let mid = 0.5 * (lo + hi);
                if rejects(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Some(self.estimate + dir * 0.5 * (lo + hi))
        };
        Some((bound(-1.0)?, bound(1.0)?))
    }
}

/// Share of `xs` at least `stat`.
pub fn p_value(xs: &[f64], stat: f64) -> f64 {
    xs.iter().filter(|t| **t >= stat).count() as f64 / xs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// y = 1 + 2x plus uneven residuals, 4 clusters of 2 rows.
    fn data() -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>, Vec<usize>) {
        let x: Vec<Vec<f64>> = (0..8).map(|i| vec![1.0, i as f64]).collect();
        let y = vec![1.0, 3.5, 4.5, 7.0, 9.5, 10.0, 13.5, 14.0];
        let w = vec![1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0, 2.0];
        (x, y, w, vec![0, 0, 1, 1, 2, 2, 3, 3])
    }

    /// The restricted replicate computed the slow way: impose β1 = θ0, build
    /// y* = Xβ̃ + v·ũ, refit, studentize with the refit's CR1 error.
    fn brute_t_star(theta0: f64, v: &[f64]) -> f64 {
        let (x, y, w, g) = data();
        // Restricted fit: y − θ0·x1 on the intercept (weighted mean).
        let adj: Vec<f64> = (0..8).map(|i| y[i] - theta0 * x[i][1]).collect();
        let m = (0..8).map(|i| w[i] * adj[i]).sum::<f64>() / w.iter().sum::<f64>();
        let ystar: Vec<f64> = (0..8).map(|i| m + theta0 * x[i][1] + v[g[i]] * (adj[i] - m)).collect();
        let f = super::super::wls(&x, &ystar, &w, &g, super::super::SeKind::Clustered).unwrap();
        (f.coefs[1].estimate - theta0) / f.coefs[1].se
    }

    #[test]
    fn a_block_reproduces_the_clustered_regression() {
        let (x, y, w, g) = data();
        let b = Block::fit(&x, &y, &w, &g).unwrap();
        let want = super::super::wls(&x, &y, &w, &g, super::super::SeKind::Clustered).unwrap();
        for k in 0..2 {
            let t = test(std::slice::from_ref(&b), &Hyp::coef(0, k), 4);
            assert!(close(t.estimate, want.coefs[k].estimate, 1e-12));
            assert!(close(t.se, want.coefs[k].se, 1e-12), "{} vs {}", t.se, want.coefs[k].se);
        }
    }

    #[test]
    fn replicates_match_a_brute_force_restricted_bootstrap() {
        let (x, y, w, g) = data();
        let b = Block::fit(&x, &y, &w, &g).unwrap();
        let blocks = [b];
        let parts = parts(&blocks, &Hyp::coef(0, 1));
        let t = test(&blocks, &Hyp::coef(0, 1), 4);
        for v in [[1.0, -1.0, 1.0, 1.0], [0.5f64.sqrt(), -1.5f64.sqrt(), 1.0, -1.0]] {
            let (mut p0, mut p1) = (vec![0.0; 4], vec![0.0; 4]);
            let r = replicate(&parts, &v, &mut p0, &mut p1);
            let tested = Tested { reps: vec![r], ..t.clone() };
            for theta0 in [0.0, 1.5, 2.0, 2.3] {
                let fast: f64 = tested.abs_t_star(t.estimate - theta0).next().unwrap();
                let slow = brute_t_star(theta0, &v).abs();
                assert!(close(fast, slow, 1e-9), "θ0 {theta0}: {fast} vs {slow}");
            }
        }
    }

    #[test]
    fn a_combination_over_blocks_equals_the_stacked_regression() {
        // Two blocks (the data, and the data shifted) against one stacked
        // block-diagonal regression: the mean of the two slopes.
        let (x, y, w, g) = data();
        let y2: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + (i % 3) as f64).collect();
        let blocks = [Block::fit(&x, &y, &w, &g).unwrap(), Block::fit(&x, &y2, &w, &g).unwrap()];
        let combo = Hyp { terms: vec![(0, 1, 0.5), (1, 1, 0.5)] };
        let mut xs: Vec<Vec<f64>> = x.iter().map(|r| vec![r[0], r[1], 0.0, 0.0]).collect();
        xs.extend(x.iter().map(|r| vec![0.0, 0.0, r[0], r[1]]));
        let ys: Vec<f64> = y.iter().chain(&y2).copied().collect();
        let ws: Vec<f64> = w.iter().chain(&w).copied().collect();
        let gs: Vec<usize> = g.iter().chain(&g).copied().collect();
        let stacked = [Block::fit(&xs, &ys, &ws, &gs).unwrap()];
        let flat = Hyp { terms: vec![(0, 1, 0.5), (0, 3, 0.5)] };
        let (a, b) = (test(&blocks, &combo, 4), test(&stacked, &flat, 4));
        assert!(close(a.estimate, b.estimate, 1e-12) && close(a.se, b.se, 1e-12), "{a:?} {b:?}");
        let v = [1.0, -1.0, 0.5f64.sqrt(), 1.5f64.sqrt()];
        let (mut p0, mut p1) = (vec![0.0; 4], vec![0.0; 4]);
        let ra = replicate(&parts(&blocks, &combo), &v, &mut p0, &mut p1);
        let rb = replicate(&parts(&stacked, &flat), &v, &mut p0, &mut p1);
        for j in 0..5 {
            assert!(close(ra[j], rb[j], 1e-9), "{j}: {ra:?} vs {rb:?}");
        }
        assert!(p0.iter().chain(&p1).all(|x| *x == 0.0), "scratch left zeroed");
    }

    #[test]
    fn order_of_p_values_and_webb_weights() {
        let xs: Vec<f64> = (1..=999).map(|i| i as f64).collect();
        assert_eq!(p_value(&xs, 990.0), 10.0 / 999.0);
        assert_eq!(p_value(&xs, 0.5), 1.0);
        let w = webb_weights();
        assert!(close(w.iter().map(|x| x * x).sum::<f64>() / 6.0, 1.0, 1e-15), "unit variance");
        assert_eq!(w.iter().sum::<f64>(), 0.0, "mean zero");
    }

    #[test]
    fn the_bootstrap_interval_is_stable_for_a_seed_and_wider_than_cr1_with_4_clinics() {
        let (x, y, w, g) = data();
        let blocks = [Block::fit(&x, &y, &w, &g).unwrap()];
        let run = |seed| bootstrap(&blocks, &[Hyp::coef(0, 1)], 4, Boot { reps: 999, seed }).remove(0);
        let (a, b) = (run(5), run(5));
        let (lo, hi) = a.interval().unwrap();
        assert_eq!(a.interval(), b.interval(), "same seed, same interval");
        assert_eq!(a.p_at(0.0), b.p_at(0.0));
        let cr1 = super::super::coef(a.estimate, a.se, 3.0);
        assert!(lo < cr1.ci_low && hi > cr1.ci_high, "bootstrap {lo}..{hi} vs CR1 {}..{}", cr1.ci_low, cr1.ci_high);
        assert!(lo < a.estimate && a.estimate < hi);
        assert!(close(a.p_at(a.estimate), 1.0, 0.0), "the estimate itself is never rejected");
        let (lo2, hi2) = run(6).interval().unwrap();
        assert!(
            (lo2 - lo).abs() < 0.25 * (hi - lo) && (hi2 - hi).abs() < 0.25 * (hi - lo),
            "another seed: {lo2}..{hi2}"
        );
    }
}
