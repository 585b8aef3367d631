"""The page: report data and rendered figures in, one self-contained HTML document out.

Every string that comes from the store (study and method names, data paths, settings) passes through
:func:`html.escape`; figures are inline SVG; there are no scripts, links or external resources.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from html import escape

from reglab.report.data import ReportData, training_curve
from reglab.results import Paired, StudySummary

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222;
       background: #fff; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.sub, figcaption, .muted { color: #555; }
.verdict { font-size: 1.1em; background: #f4f8fb; border-left: 4px solid #1f77b4; padding: 0.6em 0.9em; }
.warning { background: #fff6e5; border-left: 4px solid #e69500; padding: 0.6em 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; margin: 0.8em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e5e5e5; text-align: right; vertical-align: top; }
td { white-space: nowrap; }
.columns { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
th { border-bottom: 2px solid #ccc; }
.l { text-align: left; }
tr.winner td { font-weight: bold; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 0.4em; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.6em 0.8em; overflow-x: auto; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  figure, table, .verdict { break-inside: avoid; }
  h2 { break-after: avoid; }
  .verdict, .warning, pre { background: none; }
  pre { white-space: pre-wrap; }
}
"""


def page(data: ReportData, figures: dict[str, str], colours: dict[str, str]) -> str:
    """The whole document; ``figures`` maps a figure's name to its inline SVG."""
    settings = data.settings
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>reglab report: {escape(data.study)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>reglab report: {escape(data.study)}</h1>",
        f'<p class="sub">{escape(_subtitle(data))}</p>',
    ]
    if data.status != "finished":
        parts.append(
            '<p class="warning">This study has not finished (it is running, or it was stopped): what it '
            "stored so far is shown. Finish it with the command below plus <code>--resume --name "
            f"{escape(data.study)}</code>.</p>"
        )
    if data.comparison is not None:
        parts += [
            f'<p class="verdict">{verdict(data.comparison)}</p>',
            _section(
                "Comparison",
                figures.get("comparison"),
                comparison_caption(data.comparison),
                comparison_table(data.comparison, colours),
            ),
        ]
    if "validation-curves" in figures:
        parts.append(
            _section(
                "Validation curves",
                figures["validation-curves"],
                "Cross-validated mean validation loss of each grid point on seed 0 (dotted: the other seeds), with "
                "±1 standard error across folds. The circle marks the minimum; the diamond the strongest "
                "regularization within one standard error of it; the star the point this study chose (by its "
                f"{escape(str(settings.get('rule', '1se')))} rule).",
            )
        )
    if "validation-grids" in figures:
        parts.append(
            _section(
                "Validation grids",
                figures["validation-grids"],
                "Methods tuned over two knobs: the cross-validated mean validation loss of every pair of values on "
                "one seed (grey: a fold diverged). The circle marks the minimum, the star the point this study chose: "
                "a grid of two knobs has no single direction of stronger regularization, so it takes the minimum.",
            )
        )
    if "learning-curves" in figures:
        parts.append(
            _section(
                "Learning curves",
                figures["learning-curves"],
                "Each method's chosen configuration refit on seed 0's training part: training loss (dashed: the "
                f"{training_curve(data.settings)}) and validation loss (solid) per epoch. Validation is the "
                "held-out test split, or with early stopping the monitored fifth of the training rows.",
            )
        )
    if "weight-histograms" in figures:
        parts.append(
            _section(
                "Weight histograms",
                figures["weight-histograms"],
                "Final weights (not biases) of each method's seed-0 test run, on a log count axis. Exact zeros are "
                "what L1's proximal steps produce; group lasso removes whole units.",
            )
        )
    if "reliability" in figures:
        parts.append(
            _section(
                "Calibration",
                figures["reliability"],
                "Reliability diagrams: each method's test predictions at its chosen configuration, every seed's "
                "pooled, in 15 equal-width bins of confidence (the largest predicted probability). A bar is the "
                "accuracy of its bin, a point its mean confidence against that accuracy; a calibrated model's "
                "points lie on the diagonal, an overconfident one's below it. ECE = Σ_b (n_b/N) |acc_b − conf_b| "
                "of the pooled bins; the table above gives each seed's mean test NLL and ECE.",
            )
        )
    if data.path is not None:
        parts.append(
            _section(
                "Regularization path",
                figures.get("regularization-path"),
                "Coefficients against the penalty strength λ (log axis); vertical lines mark the λ each criterion "
                "chose.",
                path_table(data),
            )
        )
    parts += [_reproduction(data), "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def verdict(data: StudySummary) -> str:
    """The answer in one or two sentences (HTML)."""
    metric = _metric(data)
    if data.tied:
        *others, last = (escape(m) for m in data.tied)
        return f"No winner: {', '.join(others)} and {last} tie on every seed."
    if data.winner is None:
        return "No method has a test score: every run diverged or failed, or too few test rows to score."
    winner = next(m for m in data.methods if m.method == data.winner)
    text = (
        f"Winner: <strong>{escape(data.winner)}</strong> (test {metric} {_num(winner.test_metric.mean)}, "
        f"95% interval {_interval(winner.test_metric)})."
    )
    if data.runner_up is None:
        return text + " No other method finished, so there is nothing to compare it with."
    lead = data.lead
    if lead is None:
        text += f" Its lead over {escape(data.runner_up)} cannot be tested: too few seeds finished for both."
    else:
        significance = "significant" if data.winner_significant else "not significant"
        text += (
            f" Its lead over {escape(data.runner_up)} is {_signed(lead.mean_diff)} "
            f"(95% interval [{_num(lead.low)}, {_num(lead.high)}], paired over {lead.n} seeds, "
            f"p = {_p(lead.p_value)}): <strong>{significance}</strong> at the 5% level."
        )
    if winner.vs_baseline:
        versus = winner.vs_baseline
        text += f" Against the unregularized baseline: {_versus(versus)}, p = {_p(versus.p_value)}."
    return text


def comparison_caption(data: StudySummary) -> str:
    baseline = (
        "The dashed line is the unregularized baseline (none)."
        if data.baseline
        else "The study has no unregularized baseline (none)."
    )
    return (
        f"Left: test {_metric(data)} of each method at its chosen strength, mean over seeds with its 95% "
        f"interval; ★ marks the winner. {baseline} Right: the generalization gap (train minus test), "
        "which regularization should narrow."
    )


def comparison_table(data: StudySummary, colours: dict[str, str]) -> str:
    metric = _metric(data)
    pruned = any(m.units_pruned > 0 for m in data.methods)
    calibrated = data.task == "classification"
    head = ["method", "chosen", f"train {metric}", f"test {metric}", "95% interval"]
    head += ["test NLL", "test ECE"] * calibrated + ["gap", "zeros", "‖w‖"]
    head += ["units pruned"] * pruned + ["vs none (paired, 95% interval)", "p"] * bool(data.baseline) + ["outcome"]
    rows = []
    for m in data.methods:
        cells = [
            _method_cell(m.method, colours),
            f'<td class="l">{escape(m.chosen_label)}</td>',
            _td(_num(m.train_metric.mean)),
            _td(_num(m.test_metric.mean)),
            _td(_interval(m.test_metric)),
            *((_td(_pm(m.test_nll)), _td(_pm(m.test_ece))) if calibrated else ()),
            _td(_signed(m.gap.mean)),
            _td(_percent(m.zeros)),
            _td(_num(m.weight_norm, 2)),
        ]
        if pruned:
            cells.append(_td(_num(m.units_pruned, 1)))
        if data.baseline:
            v = m.vs_baseline
            cells += [_td(_versus(v)), _td("—" if v is None else _p(v.p_value) + " *" * v.significant)]
        cells.append(f'<td class="l">{escape(m.outcome)}</td>')
        row_class = ' class="winner"' if m.method == data.winner else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    header = "".join(
        f'<th class="l">{h}</th>' if h in ("method", "chosen", "outcome") else f"<th>{h}</th>" for h in head
    )
    return f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def path_table(data: ReportData) -> str:
    path = data.path
    rows = []
    for criterion, value in path.choices.items():
        nonzero = path.nonzeros_at(value)
        rows.append(
            f'<tr><td class="l">{escape(str(criterion))}</td>{_td(_num(value, 4, "g"))}'
            f"{_td('—' if nonzero is None else str(nonzero))}</tr>"
        )
    return (
        '<table>\n<thead><tr><th class="l">criterion</th><th>λ</th><th>nonzero coefficients (nearest λ on '
        "the path)</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _reproduction(data: ReportData) -> str:
    run = data.run
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(run.statuses.items())) or "none"
    elapsed = "—" if run.elapsed is None else f"{run.elapsed:,.1f} s"
    rows = [_setting_row(k, v) for k, v in _flatten(data.settings)]
    facts = [
        ("store", data.store),
        ("status", data.status),
        ("created", _time(run.created)),
        ("finished", "—" if run.finished is None else _time(run.finished)),
        ("trials", statuses),
        ("trial time (sum)", f"{run.trial_seconds:,.1f} s"),
        ("study wall time", elapsed),
        ("reglab (installed now)", run.reglab_version),
        ("torch (installed now)", run.torch_version),
    ]
    model = data.settings.get("model") or {}
    channels = ""
    if isinstance(model, dict) and model.get("kind") == "cnn" and model.get("channels"):
        listed = escape(", ".join(str(c) for c in model["channels"]))
        channels = (
            f"<p>The CNN's channels ({listed}) have no flag: set them in a study file "
            "(<code>[model] channels = [...]</code>, with <code>--study FILE</code>).</p>"
        )
    return "\n".join(
        [
            "<section>",
            "<h2>Settings and reproduction</h2>",
            "<p>The same settings run again give the same trials (each seed fixes its split, initialization and "
            "minibatches); add <code>--store</code> and <code>--name</code> to keep them:</p>",
            f"<pre>{escape(_continued(data.command))}</pre>",
            channels,
            '<div class="columns">',
            '<table class="settings">\n<thead><tr><th class="l">setting</th><th class="l">value</th></tr></thead>',
            "<tbody>",
            *rows,
            "</tbody>\n</table>",
            '<table class="run">\n<thead><tr><th class="l">run</th><th class="l"></th></tr></thead>\n<tbody>',
            *(_setting_row(k, v) for k, v in facts),
            "</tbody>\n</table>",
            "</div>",
            "</section>",
        ]
    )


def _continued(command: tuple[str, ...]) -> str:
    """The program, then one flag a line, joined by shell line continuations."""
    return " \\\n".join([command[0], *(f"  {part}" for part in command[1:])])


def _section(title: str, svg: str | None, caption: str, extra: str = "") -> str:
    figure = f"<figure>\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>" if svg else ""
    return f"<section>\n<h2>{escape(title)}</h2>\n{figure}\n{extra}\n</section>"


def _subtitle(data: ReportData) -> str:
    settings = data.settings
    items = [f"data: {settings.get('data', '?')}"]
    if data.kind != "path":
        items += [
            f"{len(data.methods)} method{'s' * (len(data.methods) != 1)}",
            settings.get("rows") or f"{settings.get('folds', '?')}-fold CV",
            f"{settings.get('seeds', '?')} seeds",
            f"{settings.get('rule', '1se')} rule",
        ]
    else:
        items.append("regularization path")
    if data.run.finished is not None:
        items.append(f"finished {_time(data.run.finished)}")
    return " · ".join(items)


def _flatten(settings: dict, prefix: str = "") -> list[tuple[str, object]]:
    items = []
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _setting_row(key: str, value: object) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value) if value else "—"
    else:
        text = "—" if value is None else str(value)
    return f'<tr><td class="l">{escape(key)}</td><td class="l">{escape(text)}</td></tr>'


def _method_cell(method: str, colours: dict[str, str]) -> str:
    return f'<td class="l"><span class="swatch" style="background:{colours[method]}"></span>{escape(method)}</td>'


def _versus(v: Paired | None) -> str:
    return "—" if v is None else f"{_signed(v.mean_diff)} [{_num(v.low)}, {_num(v.high)}]"


def _metric(data: StudySummary) -> str:
    return escape({"accuracy": "accuracy", "r2": "R²"}.get(data.metric, data.metric))


def _td(text: str) -> str:
    return f"<td>{escape(text)}</td>"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _num(value, digits: int = 4, kind: str = "f") -> str:
    return f"{value:.{digits}{kind}}" if _finite(value) else "—"


def _pm(estimate) -> str:
    """Mean ± sd over seeds."""
    return f"{estimate.mean:.4f} ± {estimate.sd:.4f}" if _finite(estimate.sd) else _num(estimate.mean)


def _signed(value) -> str:
    return f"{value:+.4f}" if _finite(value) else "—"


def _percent(value) -> str:
    return f"{value:.1%}" if _finite(value) else "—"


def _interval(estimate) -> str:
    return f"[{estimate.low:.3f}, {estimate.high:.3f}]" if _finite(estimate.low) and _finite(estimate.high) else "—"


def _p(value) -> str:
    if not _finite(value):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
