//! Learning from this server's own moderators: a logistic model fitted on the shipped model's
//! features (the same TF-IDF vocabulary) from the decisions admins made (remove or strike:
//! abusive; approve: not), starting from and pulled toward the shipped model (its five members'
//! calibrated logits averaged), so a few hundred decisions adjust it rather than replace it.
//! Deterministic: no randomness, a fixed number of full passes.
//!
//! [`held_out`] splits the decisions (every fifth is kept aside), [`evaluate`] measures a
//! classifier on some, and [`Classifier::retrain`] fits.

use super::model::{LinearModel, Member};
use super::Classifier;
use std::sync::Arc;

/// One labelled decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub abusive: bool,
}

/// How a classifier did on labelled examples at a threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Evaluation {
    pub examples: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Evaluation {
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `classifier`'s [`Classifier::score_message`] at `threshold` on `examples`.
pub fn evaluate(classifier: &Classifier, examples: &[Example], threshold: f64) -> Evaluation {
    let mut evaluation = Evaluation { examples: examples.len(), ..Evaluation::default() };
    for example in examples {
        let said = classifier.score_message(&example.text) >= threshold;
        match (said, example.abusive) {
            (true, true) => evaluation.true_positives += 1,
            (true, false) => evaluation.false_positives += 1,
            (false, true) => evaluation.false_negatives += 1,
            (false, false) => {}
        }
    }
    evaluation
}

/// The decisions to fit on and the ones kept aside to measure (every fifth, in order).
pub fn held_out(examples: &[Example]) -> (Vec<Example>, Vec<Example>) {
    let (mut fit, mut aside) = (Vec::new(), Vec::new());
    for (i, example) in examples.iter().enumerate() {
        if i % 5 == 4 {
            aside.push(example.clone());
        } else {
            fit.push(example.clone());
        }
    }
    (fit, aside)
}

/// How hard the fit is pulled toward the shipped model, and how long it runs.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// L2 strength of the pull toward the starting weights.
    pub prior_strength: f64,
    pub learning_rate: f64,
    pub passes: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { prior_strength: 1e-3, learning_rate: 2.0, passes: 300 }
    }
}

impl Classifier {
    /// The known terms of `text` with their TF-IDF weights, l2-normalised (as [`Classifier::score`]).
    fn features(&self, text: &str) -> Vec<(u32, f64)> {
        let model = &*self.model;
        let lowered = text.to_lowercase();
        let mut found: Vec<u32> = Vec::new();
        super::tokenize::for_each_token(&lowered, |token| {
            if let Some(&i) = model.index.get(token) {
                found.push(i);
            }
        });
        found.sort_unstable();
        let mut features: Vec<(u32, f64)> = Vec::new();
        for term in found {
            match features.last_mut() {
                Some((last, count)) if *last == term => *count += 1.0,
                _ => features.push((term, 1.0)),
            }
        }
        for (term, value) in &mut features {
            *value *= f64::from(model.idf[*term as usize]);
        }
        let norm = features.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, value) in &mut features {
                *value /= norm;
            }
        }
        features
    }

    /// A one-member logistic model over the same vocabulary: its members' calibrated logits
    /// averaged, then fitted to `examples` (classes weighted to balance) with an L2 pull toward
    /// that start. Without examples of both kinds it is the start itself.
    pub fn retrain(&self, examples: &[Example], options: TrainOptions) -> Classifier {
        let model = &*self.model;
        let n = model.members.len();
        // Member k: P = 1 / (1 + exp(a (w.x + i) + b)), a logit of -a w . x - a i - b.
        let terms = model.idf.len();
        let mut start = vec![0.0f64; terms];
        for (term, slot) in start.iter_mut().enumerate() {
            let weights = &model.weights[term * n..(term + 1) * n];
            *slot = model.members.iter().zip(weights).map(|(m, &w)| -m.a * f64::from(w)).sum::<f64>() / n as f64;
        }
        let start_bias = model.members.iter().map(|m| -m.a * m.intercept - m.b).sum::<f64>() / n as f64;
        let mut weights = start.clone();
        let mut bias = start_bias;
        let data: Vec<(Vec<(u32, f64)>, f64)> =
            examples.iter().map(|e| (self.features(&e.text), if e.abusive { 1.0 } else { 0.0 })).collect();
        let positives = data.iter().filter(|(_, y)| *y == 1.0).count();
        let negatives = data.len() - positives;
        if positives > 0 && negatives > 0 {
            let weight_of = |y: f64| {
                let count = if y == 1.0 { positives } else { negatives };
                data.len() as f64 / (2.0 * count as f64)
            };
            // Only the terms the examples use can move away from the start.
            let mut touched: Vec<u32> = data.iter().flat_map(|(x, _)| x.iter().map(|(t, _)| *t)).collect();
            touched.sort_unstable();
            touched.dedup();
            let total = data.len() as f64;
            let mut gradient = vec![0.0f64; terms];
            for _ in 0..options.passes {
                let mut bias_gradient = 0.0;
                for (x, y) in &data {
                    let logit = bias + x.iter().map(|(t, v)| weights[*t as usize] * v).sum::<f64>();
                    let error = (sigmoid(logit) - y) * weight_of(*y);
                    bias_gradient += error;
                    for (t, v) in x {
                        gradient[*t as usize] += error * v;
                    }
                }
                for &t in &touched {
                    let t = t as usize;
                    let pull = options.prior_strength * (weights[t] - start[t]);
                    weights[t] -= options.learning_rate * (gradient[t] / total + pull);
                    gradient[t] = 0.0;
                }
                bias -= options.learning_rate * bias_gradient / total;
            }
        }
        // One member whose probability is sigmoid(w . x + bias): a = -1, b = 0.
        let fitted = LinearModel {
            index: model.index.clone(),
            idf: model.idf.clone(),
            weights: weights.iter().map(|&w| w as f32).collect(),
            members: vec![Member { intercept: bias, a: -1.0, b: 0.0 }],
        };
        Classifier { model: Arc::new(fitted) }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, abusive: bool) -> Example {
        Example { text: text.into(), abusive }
    }

    /// A server whose moderators remove "potato" used as an insult, which the shipped model
    /// has never seen as one.
    fn decisions() -> Vec<Example> {
        let mut all = Vec::new();
        for who in ["you", "he", "she", "they", "your friend", "that guy", "the admin", "your team"] {
            all.push(example(&format!("{who} are such a potato"), true));
            all.push(example(&format!("shut up {who}, potato brain"), true));
            all.push(example(&format!("{who} played well today, nice game"), false));
            all.push(example(&format!("thanks {who}, see you tomorrow"), false));
        }
        all
    }

    #[test]
    fn the_start_is_the_shipped_model_averaged() {
        let shipped = Classifier::shipped();
        let start = shipped.retrain(&[], TrainOptions::default());
        for text in ["you are an idiot", "have a nice day", "what a stupid idea"] {
            let (a, b) = (shipped.score(text), start.score(text));
            assert!((a - b).abs() < 0.2, "{text}: shipped {a}, start {b}");
            assert_eq!(a > 0.5, b > 0.5, "{text}");
        }
    }

    #[test]
    fn decisions_teach_what_the_shipped_model_misses() {
        let shipped = Classifier::shipped();
        let (fit, aside) = held_out(&decisions());
        assert_eq!((fit.len(), aside.len()), (26, 6));
        let retrained = shipped.retrain(&fit, TrainOptions::default());
        assert!(shipped.score("you are such a potato") < 0.5, "the shipped model does not know it");
        assert!(retrained.score("what a potato you are") > 0.7, "{}", retrained.score("what a potato you are"));
        assert!(retrained.score("nice game, see you tomorrow") < 0.3);
        // It still knows what the shipped model knew.
        assert!(retrained.score("you are an idiot") > 0.7);
        let before = evaluate(&shipped, &aside, 0.7);
        let after = evaluate(&retrained, &aside, 0.7);
        assert!(after.f1() > before.f1(), "held out: {before:?} then {after:?}");
        // The fitted model is a model file like any other.
        let reloaded = Classifier::from_bytes(&retrained.to_bytes()).unwrap();
        assert_eq!(reloaded.score("what a potato you are"), retrained.score("what a potato you are"));
    }
}
