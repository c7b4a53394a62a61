//! The compact model file: a TF-IDF vocabulary and an ensemble of Platt-calibrated linear models,
//! as `scripts/export-classifier.py` writes it.
//!
//! Little-endian throughout:
//!
//! ```text
//! magic      8 bytes  "CBXLIN01"
//! n_terms    u32
//! n_members  u32      (at least 1)
//! members    n_members x { intercept f64, a f64, b f64 }
//! terms      n_terms x { len u16, utf-8 bytes (len), idf f32, weight f32 x n_members }
//! ```
//!
//! A member's probability is `1 / (1 + exp(a * d + b))` where `d` is its decision value
//! `weights . x + intercept`, as scikit-learn's sigmoid calibration computes it.

use std::collections::HashMap;
use std::fmt;

const MAGIC: &[u8; 8] = b"CBXLIN01";
/// More members than any ensemble worth shipping; bounds what a corrupt header can allocate.
const MAX_MEMBERS: u32 = 64;

/// One calibrated linear model of the ensemble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Member {
    pub intercept: f64,
    /// Platt scaling: probability = 1 / (1 + exp(a * decision + b)).
    pub a: f64,
    pub b: f64,
}

/// The parsed model: term -> index, per-term idf, and the members' weights (term-major).
#[derive(Debug, Clone)]
pub(crate) struct LinearModel {
    pub index: HashMap<Box<str>, u32>,
    pub idf: Vec<f32>,
    /// `weights[term * members.len() + member]`.
    pub weights: Vec<f32>,
    pub members: Vec<Member>,
}

/// Why a model file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError(&'static str);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad classifier model file: {}", self.0)
    }
}

impl std::error::Error for ModelError {}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        if self.bytes.len() < n {
            return Err(ModelError("truncated"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, ModelError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        self.array().map(u32::from_le_bytes)
    }

    fn f32(&mut self) -> Result<f32, ModelError> {
        let value = f32::from_le_bytes(self.array()?);
        value.is_finite().then_some(value).ok_or(ModelError("a weight is not finite"))
    }

    fn f64(&mut self) -> Result<f64, ModelError> {
        let value = f64::from_le_bytes(self.array()?);
        value.is_finite().then_some(value).ok_or(ModelError("a parameter is not finite"))
    }
}

impl LinearModel {
    /// Parses a model file; never panics, whatever the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<LinearModel, ModelError> {
        let mut r = Reader { bytes };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(ModelError("not a ChatterBox linear model (wrong magic)"));
        }
        let n_terms = r.u32()?;
        let n_members = r.u32()?;
        if n_members == 0 || n_members > MAX_MEMBERS {
            return Err(ModelError("member count out of range"));
        }
        // Each term takes at least 2 + 4 + 4 * members bytes: refuse counts the file cannot hold
        // before allocating for them.
        let min_term_bytes = 6 + 4 * n_members as usize;
        if (n_terms as usize).saturating_mul(min_term_bytes) > r.bytes.len() {
            return Err(ModelError("term count larger than the file"));
        }
        let members = (0..n_members)
            .map(|_| Ok(Member { intercept: r.f64()?, a: r.f64()?, b: r.f64()? }))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let mut index = HashMap::with_capacity(n_terms as usize);
        let mut idf = Vec::with_capacity(n_terms as usize);
        let mut weights = Vec::with_capacity(n_terms as usize * members.len());
        for position in 0..n_terms {
            let len = r.u16()? as usize;
            let term = std::str::from_utf8(r.take(len)?).map_err(|_| ModelError("a term is not UTF-8"))?;
            if index.insert(Box::from(term), position).is_some() {
                return Err(ModelError("a term appears twice"));
            }
            idf.push(r.f32()?);
            for _ in 0..members.len() {
                weights.push(r.f32()?);
            }
        }
        if !r.bytes.is_empty() {
            return Err(ModelError("trailing bytes"));
        }
        Ok(LinearModel { index, idf, weights, members })
    }

    /// Serialises the model in the file format (for models fitted on this server's decisions).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut terms: Vec<(&str, u32)> = self.index.iter().map(|(t, &i)| (&**t, i)).collect();
        terms.sort_unstable_by_key(|&(_, i)| i);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(terms.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.members.len() as u32).to_le_bytes());
        for m in &self.members {
            for v in [m.intercept, m.a, m.b] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let n = self.members.len();
        for (term, i) in terms {
            let i = i as usize;
            out.extend_from_slice(&(term.len() as u16).to_le_bytes());
            out.extend_from_slice(term.as_bytes());
            out.extend_from_slice(&self.idf[i].to_le_bytes());
            for w in &self.weights[i * n..(i + 1) * n] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Vec<u8> {
        let model = LinearModel {
            index: [("idiot".into(), 0), ("hello".into(), 1)].into_iter().collect(),
            idf: vec![2.0, 1.5],
            weights: vec![3.0, -1.0],
            members: vec![Member { intercept: -0.5, a: -2.0, b: 0.25 }],
        };
        model.to_bytes()
    }

    #[test]
    fn round_trips() {
        let bytes = tiny();
        let model = LinearModel::from_bytes(&bytes).unwrap();
        assert_eq!(model.to_bytes(), bytes);
        assert_eq!(model.index["hello"], 1);
        assert_eq!(model.members, vec![Member { intercept: -0.5, a: -2.0, b: 0.25 }]);
    }

    #[test]
    fn refuses_damage_without_panicking() {
        let bytes = tiny();
        for cut in 0..bytes.len() {
            assert!(LinearModel::from_bytes(&bytes[..cut]).is_err(), "accepted a file cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(LinearModel::from_bytes(&longer).unwrap_err(), ModelError("trailing bytes"));
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(LinearModel::from_bytes(&wrong).is_err());
        let mut huge = bytes.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(LinearModel::from_bytes(&huge).unwrap_err(), ModelError("term count larger than the file"));
        let mut nan = bytes;
        let at = nan.len() - 4;
        nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(LinearModel::from_bytes(&nan).is_err());
    }
}
