//! Samples, medians with min–max, and the Markdown table with the lb/haproxy ratios.
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn cell(&self) -> String {
        let min = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.0.len() > 1 {
            format!("{} ({}–{})", num(self.median()), num(min), num(max))
        } else {
            num(self.median())
        }
    }
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Metric name → samples, per proxy, in insertion order of proxies.
#[derive(Default)]
pub struct Report {
    proxies: Vec<(String, BTreeMap<String, Samples>)>,
}

impl Report {
    pub fn proxy(&mut self, name: &str) -> &mut BTreeMap<String, Samples> {
        self.proxies.push((name.to_string(), BTreeMap::new()));
        &mut self.proxies.last_mut().unwrap().1
    }

    pub fn markdown(&self) -> String {
        let mut metrics: Vec<&String> = self.proxies.iter().flat_map(|(_, m)| m.keys()).collect();
        metrics.sort();
        metrics.dedup();
        let names: Vec<&str> = self.proxies.iter().map(|(n, _)| n.as_str()).collect();
        let mut out = format!("| metric | {} | lb / haproxy |\n|---|", names.join(" | "));
        out += &"---|".repeat(names.len() + 1);
        out.push('\n');
        let get = |proxy: &str, metric: &str| {
            self.proxies
                .iter()
                .find(|(n, _)| n == proxy)
                .and_then(|(_, m)| m.get(metric))
        };
        for metric in metrics {
            let cells: Vec<String> = names
                .iter()
                .map(|n| get(n, metric).map_or("–".into(), Samples::cell))
                .collect();
            let ratio = match (get("lb", metric), get("haproxy", metric)) {
                (Some(a), Some(b)) if b.median() != 0.0 => {
                    format!("{:.2}×", a.median() / b.median())
                }
                _ => "–".into(),
            };
            out += &format!("| {metric} | {} | {ratio} |\n", cells.join(" | "));
        }
        out
    }
}
