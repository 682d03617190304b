//! Reads counters out of the Prometheus text the bridges expose.
use std::collections::BTreeMap;

/// `name{labels}` -> value, for every sample of `metric`.
pub fn counters(text: &str, metric: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let labels = labels
            .split("\",")
            .filter_map(|kv| kv.split_once("=\""))
            .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
            .collect();
        out.insert(labels, value);
    }
    out
}

/// The sum of `metric`'s samples (in the bridges' current metrics) whose
/// labels include every `(name, value)` of `filters`.
pub fn counter_total(metric: &str, filters: &[(&str, &str)]) -> f64 {
    counters(&coalition_bridge::telemetry::render(), metric)
        .iter()
        .filter(|(labels, _)| {
            filters
                .iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_counters_and_ignores_others() {
        let text = "# TYPE x counter\nx_total{nation=\"USA\",reason=\"a b\"} 3\nx_total_other{a=\"1\"} 9\ny 1\nx_total{nation=\"GBR\",reason=\"c\"} 1.5\n";
        let c = counters(text, "x_total");
        assert_eq!(c.len(), 2);
        let key: BTreeMap<String, String> = [
            ("nation".to_string(), "USA".to_string()),
            ("reason".to_string(), "a b".to_string()),
        ]
        .into();
        assert_eq!(c[&key], 3.0);
    }
}
