//! Statistics for the outcome models: t-based coefficient summaries here,
//! the stacked regressions and the wild cluster bootstrap in [`wild`]. The
//! plain weighted least squares with classical and CR1 errors (`wls`) is
//! kept for the tests only: an independent reference that `wild::Block` and
//! its bootstrap replicates are checked against.

pub mod wild;

#[cfg(test)]
use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// One estimated coefficient.
#[derive(Clone, Debug, PartialEq)]
pub struct Coef {
    pub estimate: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p: f64,
}

/// A fitted model.
#[cfg(test)]
#[derive(Clone, Debug)]
pub struct Fit {
    pub coefs: Vec<Coef>,
    /// Degrees of freedom used for the t distribution.
    pub df: f64,
    pub n: usize,
    pub clusters: usize,
}

/// How standard errors are computed.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeKind {
    /// Classical (homoskedastic) OLS/WLS errors; df = n − k.
    Classical,
    /// Cluster-robust CR1 (small-sample factor G/(G−1)·(n−1)/(n−k)); df = G − 1.
    Clustered,
}

/// Why a model could not be estimated.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq)]
pub struct NotEstimable(pub String);

/// t-based coefficient summary.
pub fn coef(estimate: f64, se: f64, df: f64) -> Coef {
    let t = StudentsT::new(0.0, 1.0, df).expect("df > 0");
    let q = t.inverse_cdf(0.975);
    let p = if se > 0.0 {
        2.0 * (1.0 - t.cdf((estimate / se).abs()))
    } else if estimate == 0.0 {
        1.0
    } else {
        0.0
    };
    Coef { estimate, se, ci_low: estimate - q * se, ci_high: estimate + q * se, p }
}

/// Weighted least squares of `y` on the rows of `x` (each row a vector of
/// regressors, intercept included by the caller), weights `w`, clusters `g`.
#[cfg(test)]
pub fn wls(x: &[Vec<f64>], y: &[f64], w: &[f64], g: &[usize], kind: SeKind) -> Result<Fit, NotEstimable> {
    let n = y.len();
    let k = x.first().map(|r| r.len()).unwrap_or(0);
    if n <= k {
        return Err(NotEstimable(format!("{n} observations for {k} coefficients")));
    }
    let mut clusters: Vec<usize> = g.to_vec();
    clusters.sort_unstable();
    clusters.dedup();
    let n_g = clusters.len();
    if kind == SeKind::Clustered && n_g < 3 {
        return Err(NotEstimable(format!("{n_g} clinics: at least 3 are needed for clustered standard errors")));
    }
    let xm = DMatrix::from_fn(n, k, |i, j| x[i][j]);
    let yv = DVector::from_column_slice(y);
    let wv = DVector::from_column_slice(w);
    let xw = DMatrix::from_fn(n, k, |i, j| x[i][j] * w[i]);
    let xtwx = xw.transpose() * &xm;
    let inv = xtwx
        .clone()
        .try_inverse()
        .ok_or_else(|| NotEstimable("the design is singular (too little variation)".into()))?;
    let beta = &inv * (xw.transpose() * &yv);
    let resid = &yv - &xm * &beta;
    let (vcov, df) = match kind {
        SeKind::Classical => {
            let sse: f64 = (0..n).map(|i| wv[i] * resid[i] * resid[i]).sum();
            (inv.clone() * (sse / (n - k) as f64), (n - k) as f64)
        }
        SeKind::Clustered => {
            let mut meat: DMatrix<f64> = DMatrix::zeros(k, k);
            for &c in &clusters {
                let mut s: DVector<f64> = DVector::zeros(k);
                for i in (0..n).filter(|&i| g[i] == c) {
                    for j in 0..k {
                        s[j] += x[i][j] * w[i] * resid[i];
                    }
                }
                meat += &s * s.transpose();
            }
            let factor = (n_g as f64 / (n_g - 1) as f64) * ((n - 1) as f64 / (n - k) as f64);
            (&inv * meat * &inv * factor, (n_g - 1) as f64)
        }
    };
    let coefs = (0..k).map(|j| coef(beta[j], vcov[(j, j)].max(0.0).sqrt(), df)).collect();
    Ok(Fit { coefs, df, n, clusters: n_g })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn classical_ols_matches_a_hand_worked_example() {
        // x = 1..5, y = 2, 4, 5, 4, 5. By hand: x̄ = 3, ȳ = 4, Sxx = 10, Sxy = 6,
        // slope 0.6, intercept 2.2; residuals −0.8, 0.6, 1.0, −0.6, −0.2,
        // SSE = 2.4, s² = 0.8; se(slope) = √(0.8/10) = 0.282843,
        // se(intercept) = √(0.8·(1/5 + 9/10)) = √0.88 = 0.938083.
        let x: Vec<Vec<f64>> = (1..=5).map(|v| vec![1.0, v as f64]).collect();
        let y = [2.0, 4.0, 5.0, 4.0, 5.0];
        let f = wls(&x, &y, &[1.0; 5], &[0, 1, 2, 3, 4], SeKind::Classical).unwrap();
        assert!(close(f.coefs[0].estimate, 2.2, 1e-12));
        assert!(close(f.coefs[1].estimate, 0.6, 1e-12));
        assert!(close(f.coefs[1].se, 0.282843, 1e-6));
        assert!(close(f.coefs[0].se, 0.938083, 1e-6));
        // t(3) 97.5% quantile = 3.182446: CI for the slope 0.6 ± 0.900129.
        assert!(close(f.coefs[1].ci_low, 0.6 - 3.182446 * 0.282843, 1e-5));
        // t = 2.1213 on 3 df: two-sided p = 0.1240.
        assert!(close(f.coefs[1].p, 0.1240, 1e-3));
    }

    #[test]
    fn clustered_se_of_a_mean_matches_a_hand_computation() {
        // Intercept only: ȳ = 4 from y = 1, 3 | 5, 7 | 2, 6 in clusters 0, 1, 2.
        // Residual sums per cluster: (−3 −1) = −4, (1 + 3) = 4, (−2 + 2) = 0.
        // (X'X)⁻¹ = 1/6; meat = 16 + 16 + 0 = 32; factor = 3/2 · 5/5 = 1.5:
        // var = 32 · 1.5 / 36 = 4/3, se = 1.154701.
        let x = vec![vec![1.0]; 6];
        let y = [1.0, 3.0, 5.0, 7.0, 2.0, 6.0];
        let f = wls(&x, &y, &[1.0; 6], &[0, 0, 1, 1, 2, 2], SeKind::Clustered).unwrap();
        assert!(close(f.coefs[0].estimate, 4.0, 1e-12));
        assert!(close(f.coefs[0].se, 1.154701, 1e-6));
        assert_eq!(f.df, 2.0);
    }

    #[test]
    fn weights_replicate_observations() {
        // Weight 2 on a point is the same estimate as that point twice.
        let x: Vec<Vec<f64>> = [1.0, 2.0, 3.0].iter().map(|v| vec![1.0, *v]).collect();
        let a = wls(&x, &[1.0, 3.0, 2.0], &[1.0, 2.0, 1.0], &[0, 1, 2], SeKind::Classical).unwrap();
        let x2: Vec<Vec<f64>> = [1.0, 2.0, 2.0, 3.0].iter().map(|v| vec![1.0, *v]).collect();
        let b = wls(&x2, &[1.0, 3.0, 3.0, 2.0], &[1.0; 4], &[0, 1, 1, 2], SeKind::Classical).unwrap();
        assert!(close(a.coefs[1].estimate, b.coefs[1].estimate, 1e-12));
    }

    #[test]
    fn too_few_observations_or_clusters_are_not_estimable() {
        let x = vec![vec![1.0, 0.0], vec![1.0, 1.0]];
        assert!(wls(&x, &[1.0, 2.0], &[1.0, 1.0], &[0, 1], SeKind::Classical).is_err());
        let x = vec![vec![1.0]; 4];
        assert!(wls(&x, &[1.0, 2.0, 3.0, 4.0], &[1.0; 4], &[0, 0, 1, 1], SeKind::Clustered).is_err());
        let x = vec![vec![1.0, 2.0]; 4];
        assert!(wls(&x, &[1.0, 2.0, 3.0, 4.0], &[1.0; 4], &[0, 1, 2, 3], SeKind::Classical).is_err(), "singular");
    }
}
