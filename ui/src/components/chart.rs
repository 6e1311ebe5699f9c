//! A bar chart in SVG, rendered on the server too (readable without JavaScript).

use crate::format::human_bytes;
use leptos::prelude::*;

/// One bar: a label and two stacked values.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Under the bar (a day).
    pub label: String,
    /// Lower part (bytes in).
    pub a: u64,
    /// Upper part (bytes out).
    pub b: u64,
}

/// Stacked bars of `a` (in) and `b` (out), scaled to the largest total.
#[component]
pub fn StackedBars(
    /// The bars, left to right.
    bars: Vec<Bar>,
    /// What the chart shows (its accessible name).
    title: &'static str,
) -> impl IntoView {
    const W: f64 = 640.0;
    const H: f64 = 200.0;
    const PAD: f64 = 24.0;
    let max = bars.iter().map(|b| b.a + b.b).max().unwrap_or(0).max(1) as f64;
    let n = bars.len().max(1) as f64;
    let slot = (W - 2.0 * PAD) / n;
    let width = (slot * 0.7).max(2.0);
    let total: u64 = bars.iter().map(|b| b.a + b.b).sum();
    let label = format!(
        "{title}: {} in total over {} days",
        human_bytes(total),
        bars.len()
    );
    let shapes = bars
        .iter()
        .enumerate()
        .map(|(i, bar)| {
            let x = PAD + i as f64 * slot + (slot - width) / 2.0;
            let ha = (bar.a as f64 / max) * (H - 2.0 * PAD);
            let hb = (bar.b as f64 / max) * (H - 2.0 * PAD);
            let base = H - PAD;
            let tip = format!(
                "{}: {} in, {} out",
                bar.label,
                human_bytes(bar.a),
                human_bytes(bar.b)
            );
            let show_label = bars.len() <= 10 || i % (bars.len() / 7).max(1) == 0;
            view! {
                <g>
                    <title>{tip}</title>
                    <rect class="bar-a" x=format!("{x:.1}") y=format!("{:.1}", base - ha)
                        width=format!("{width:.1}") height=format!("{ha:.1}")></rect>
                    <rect class="bar-b" x=format!("{x:.1}") y=format!("{:.1}", base - ha - hb)
                        width=format!("{width:.1}") height=format!("{hb:.1}")></rect>
                    {show_label.then(|| view! {
                        <text class="axis" x=format!("{:.1}", x + width / 2.0) y=format!("{:.1}", H - 6.0)
                            text-anchor="middle">{bar.label.get(5..).unwrap_or(&bar.label).to_owned()}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label preserveAspectRatio="none">
                <line class="axis-line" x1=PAD y1=H - PAD x2=W - PAD y2=H - PAD></line>
                {shapes}
            </svg>
            <figcaption class="legend">
                <span class="swatch swatch-a"></span>"Bytes in (from visitors) "
                <span class="swatch swatch-b"></span>"Bytes out (to visitors) · peak day "
                {human_bytes(max as u64)}
            </figcaption>
        </figure>
    }
}
