"""A static HTML report of the dbt marts (schema `reports` of the results DuckDB): the leaderboard with 95%
confidence intervals, a model x benchmark heat map, per-subject bars, paired comparisons of every two models
evaluated alike (llmeval_assets.results) and run cost, as PNG plots beside an
`index.html` that references them relatively (the folder can be copied or served as is; no JavaScript, no
external resources).

    paths = build_html_report(results_db_path())   # writes .llmeval/report/index.html and *.png

Plots are drawn on `matplotlib.figure.Figure` objects saved through the Agg renderer: no pyplot state, no GUI
backend, safe inside a Dagster run. Missing marts or an empty database give a page whose sections say
"no results yet"."""

from __future__ import annotations

import base64
import html
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from llmeval_assets.paths import report_dir, results_db_path
from llmeval_assets.report_images import THUMBS_CSS, FailedImageItem, failed_image_items, failed_images_html
from llmeval_assets.reporting import connect_read_only, judge_note, table_columns
from llmeval_assets.results import Comparison, pairwise_comparisons

NO_RESULTS = "no results yet"
SMALL_SAMPLE = 30  # below this many items the normal-approximation interval is rough
Z_95 = 1.96
SUBJECTS_EACH_END = 10  # datasets with more groups than twice this show the best and the worst ones only
MAX_RUNS_SHOWN = 20
DPI = 110

# the columns read from each mart; an empty frame with these columns stands in for a mart that does not exist yet
MART_COLUMNS = {
    "leaderboard": ["model", "model_display_name", "dataset", "profile", "profile_label", "variant", "num_fewshot",
                    "is_chat_template", "reference", "is_fixture", "metric", "spec_hash", "value", "stderr", "ci_low",
                    "ci_high", "n", "value_min", "value_max", "is_higher_better", "judge"],
    "subject_breakdown": ["model", "dataset", "profile", "variant", "item_group", "value", "stderr", "ci_low",
                          "ci_high", "n", "value_min", "value_max"],
    "category_summary": ["category", "model", "profile", "datasets_in_category", "datasets_evaluated", "coverage",
                         "mean_normalized_score", "datasets_in_mean"],
    "run_cost": ["run_id", "model", "datasets", "backend", "device", "tensor_parallel_size", "wall_s",
                 "engine_load_s", "inference_s", "gpu_seconds", "tokens_in", "tokens_out", "samples",
                 "tokens_per_second", "started_at"],
}
MART_ORDER = {
    # best first within a dataset, whichever direction is better
    # results of one setting (dataset, profile, variant) together, best first within it
    "leaderboard": "dataset, profile, variant, case when is_higher_better = false then value else -value end, model",
    "subject_breakdown": "dataset, model, profile, value desc, item_group",
    "category_summary": "category, profile nulls last, mean_normalized_score desc nulls last, model",
    "run_cost": "started_at desc nulls last, run_id, model",
}


@dataclass(frozen=True)
class ReportData:
    """The marts the report shows, as read from one DuckDB file."""

    source: Path
    leaderboard: pd.DataFrame
    subject_breakdown: pd.DataFrame
    category_summary: pd.DataFrame
    run_cost: pd.DataFrame
    failed_images: tuple[FailedImageItem, ...] = ()  # a few failed items of each image benchmark result
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # results.Comparison rows

    def model_labels(self) -> dict[str, str]:
        """model key -> the registry's display name where the leaderboard carries one."""
        labels = {model: model for model in self.run_cost["model"]}
        for row in self.leaderboard.itertuples():
            labels[row.model] = row.model_display_name if isinstance(row.model_display_name, str) else row.model
        return labels


@dataclass(frozen=True)
class ReportPaths:
    index_html: Path
    images: dict[str, Path] = field(default_factory=dict)  # "leaderboard", "heatmap", "subjects_<dataset>", "run_cost"


def read_report_data(duckdb_path: Path) -> ReportData:
    """Every mart the report uses; a mart that does not exist (dbt has not run, or no database yet) reads empty,
    and a column that a mart built by an older llmeval lacks reads null (the next report refresh adds it)."""
    frames = {name: pd.DataFrame(columns=columns) for name, columns in MART_COLUMNS.items()}
    comparisons = pd.DataFrame(columns=[f.name for f in fields(Comparison)])
    if duckdb_path.exists():
        con = connect_read_only(duckdb_path)
        try:
            existing = table_columns(con, "reports")
            for name in {table for table, _ in existing} & frames.keys():
                columns = [c if (name, c) in existing else f"null as {c}" for c in MART_COLUMNS[name]]
                frames[name] = con.execute(
                    f"select {', '.join(columns)} from reports.{name} order by {MART_ORDER[name]}").df()
            if frames["leaderboard"]["model"].nunique() > 1 and ("partitions", "profile") in table_columns(con,
                                                                                                          "evals"):
                found = [c.as_dict() for c in pairwise_comparisons(con)]
                comparisons = pd.DataFrame(found, columns=comparisons.columns)
        finally:
            con.close()
    return ReportData(source=duckdb_path, comparisons=comparisons, **frames,
                      failed_images=tuple(failed_image_items(duckdb_path)))


def build_html_report(duckdb_path: Path | None = None, out_dir: Path | None = None) -> ReportPaths:
    """Read the marts of `duckdb_path` (default: the project's results DuckDB) and write the report into `out_dir`
    (default `.llmeval/report/`), replacing the previous one as a whole."""
    return write_report(read_report_data(duckdb_path or results_db_path()), out_dir or report_dir())


def write_report(data: ReportData, out_dir: Path) -> ReportPaths:
    """Draw everything into a temporary sibling folder, then swap it in: a reader never sees a half-written
    report, and plots of models that left the results do not linger."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-new-"))
    try:
        images = draw_plots(data, staging)
        (staging / "index.html").write_text(render_index(data, images), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the report from a web server or another user
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportPaths(index_html=out_dir / "index.html", images={name: out_dir / f for name, f in images.items()})


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-old-"))
    os.replace(out_dir, retired)  # rename(2) may replace an empty directory
    os.replace(staging, out_dir)
    shutil.rmtree(retired)


def image_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def leaderboard_markdown(leaderboard: pd.DataFrame) -> str:
    """The leaderboard mart as a markdown table (for the Dagster UI)."""
    if leaderboard.empty:
        return f"_{NO_RESULTS}_"
    lines = ["| dataset | setting | model | metric | value ± stderr | 95% CI | n |",
             "|---|---|---|---|--:|--:|--:|"]
    for row in leaderboard.itertuples():
        stderr = f" ± {row.stderr:.3f}" if pd.notna(row.stderr) else ""
        interval = f"[{row.ci_low:.3f}, {row.ci_high:.3f}]" if pd.notna(row.ci_low) else "–"
        lines.append(f"| {row.dataset} | {setting_label(row)} | {row.model} | {row.metric} | {row.value:.3f}{stderr} "
                     f"| {interval} | {row.n} |")
    return "\n".join(lines)


def setting_label(row) -> str:
    """How a result was evaluated, in a few words: "default · chat_0shot (0-shot, chat)"."""
    if not isinstance(row.variant, str):
        return row.profile if isinstance(row.profile, str) else "–"
    shots = f"{int(row.num_fewshot)}-shot" if pd.notna(row.num_fewshot) else "?-shot"
    return f"{row.profile} · {row.variant} ({shots}{', chat' if row.is_chat_template is True else ''})"


def with_settings(leaderboard: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with `setting` (dataset, profile and variant: one panel, heat-map column or ranking each);
    a dataset evaluated under one setting only is named by the dataset alone."""
    frame = leaderboard.copy()
    keys = frame["profile"].astype(str) + " · " + frame["variant"].astype(str)
    several = frame.assign(key=keys).groupby("dataset")["key"].transform("nunique") > 1
    frame["setting"] = frame["dataset"].where(~several, frame["dataset"] + "\n" + keys)
    return frame


# ---------------------------------------------------------------------------------------------------- plots


def draw_plots(data: ReportData, folder: Path) -> dict[str, str]:
    """Every plot the data allows, saved into `folder`; returns plot name -> file name."""
    labels = data.model_labels()
    colors = model_colors(sorted(labels))
    figures: dict[str, Figure] = {}
    if not data.leaderboard.empty:
        board = with_settings(data.leaderboard)
        figures["leaderboard"] = leaderboard_figure(board, labels, colors)
        figures["heatmap"] = heatmap_figure(board, labels)
    for dataset, groups in data.subject_breakdown.groupby("dataset", sort=True):
        overall = data.leaderboard[data.leaderboard["dataset"] == dataset]
        figures[f"subjects_{dataset}"] = subjects_figure(dataset, groups, overall, labels, colors)
    if not data.run_cost.empty:
        figures["run_cost"] = run_cost_figure(data.run_cost.head(MAX_RUNS_SHOWN), labels, colors)
    files = {}
    for name, figure in figures.items():
        files[name] = re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"
        figure.savefig(folder / files[name], dpi=DPI, bbox_inches="tight", facecolor="white")
    return files


def model_colors(models: list[str]) -> dict[str, tuple]:
    """One color per model, the same in every plot."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(models) <= 10 else "tab20"]
    return {model: palette(index % palette.N) for index, model in enumerate(models)}


def _interval_errors(values: pd.Series, lows: pd.Series, highs: pd.Series) -> list[list[float]]:
    """matplotlib's asymmetric xerr; no bar where no interval is known."""
    below = (values - lows).fillna(0).clip(lower=0)
    above = (highs - values).fillna(0).clip(lower=0)
    return [below.tolist(), above.tolist()]


def _metric_range(frame: pd.DataFrame) -> tuple[float, float] | None:
    low, high = frame["value_min"].iloc[0], frame["value_max"].iloc[0]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high))
    return (float(low), float(high)) if finite and high > low else None


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def leaderboard_figure(leaderboard: pd.DataFrame, labels: dict[str, str], colors: dict[str, tuple]) -> Figure:
    """One panel per setting (dataset, profile, variant: results of different settings are never ranked together): a
    bar per model with the 95% interval scoring computed. `leaderboard` comes through with_settings."""
    datasets = list(dict.fromkeys(leaderboard["setting"]))
    heights = [0.9 + 0.42 * (leaderboard["setting"] == d).sum() for d in datasets]
    figure = Figure(figsize=(9, sum(heights) + 0.4), layout="constrained")
    axes = figure.subplots(len(datasets), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, dataset in zip(axes, datasets, strict=False):
        rows = leaderboard[leaderboard["setting"] == dataset].iloc[::-1]  # best at the top
        positions = range(len(rows))
        ax.barh(positions, rows["value"], color=[colors[m] for m in rows["model"]], height=0.6,
                xerr=_interval_errors(rows["value"], rows["ci_low"], rows["ci_high"]),
                error_kw={"ecolor": "#374151", "capsize": 4, "elinewidth": 1.2})
        ax.set_yticks(list(positions), [labels[m] for m in rows["model"]])
        metric_range = _metric_range(rows)
        if metric_range:
            ax.set_xlim(*metric_range)
        for position, row in zip(positions, rows.itertuples(), strict=True):
            end = row.ci_high if pd.notna(row.ci_high) else row.value
            ax.annotate(f"{row.value:.3f}  (n={row.n})", (end, position), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=8, color="#111827",
                        annotation_clip=False)
        first = rows.iloc[0]
        ax.set_title(f"{first['dataset']} · {first['metric']} · {setting_label(first)}", loc="left", fontsize=10,
                     fontweight="bold")
        _style(ax)
    figure.suptitle("Leaderboard: primary metric with 95% confidence interval", fontsize=12, x=0.01,
                    horizontalalignment="left")
    return figure


def normalized_scores(leaderboard: pd.DataFrame) -> pd.Series:
    """The primary metric mapped onto 0..1 by its declared range: (v - min) / (max - min), so MT-Bench's 1..10
    becomes (v - 1) / 9; NaN for unbounded or lower-is-better metrics (the category_summary mart's rule)."""
    span = leaderboard["value_max"] - leaderboard["value_min"]
    normalized = (leaderboard["value"] - leaderboard["value_min"]) / span
    usable = leaderboard["is_higher_better"].eq(True) & (span > 0) & span.map(math.isfinite)
    return normalized.where(usable)


def heatmap_figure(leaderboard: pd.DataFrame, labels: dict[str, str]) -> Figure:
    import numpy as np
    from matplotlib import colormaps

    """`leaderboard` comes through with_settings: a column per setting, so two settings never share a cell."""
    frame = leaderboard.assign(label=leaderboard["model"].map(labels), normalized=normalized_scores(leaderboard))
    datasets = sorted(frame["setting"].unique())
    models = sorted(frame["label"].unique())
    normalized = frame.pivot(index="label", columns="setting", values="normalized").reindex(index=models,
                                                                                           columns=datasets)
    raw = frame.pivot(index="label", columns="setting", values="value").reindex(index=models, columns=datasets)
    # wide enough for the model names, the colorbar and the title even with one benchmark
    figure = Figure(figsize=(max(7.0, 3.8 + 1.1 * len(datasets)), 1.8 + 0.55 * len(models)), layout="constrained")
    ax = figure.subplots()
    cmap = colormaps["RdYlGn"].with_extremes(bad="#e5e7eb")
    image = ax.imshow(np.ma.masked_invalid(normalized.to_numpy(dtype=float)), cmap=cmap, vmin=0, vmax=1,
                      aspect="auto")
    for (row, column), value in np.ndenumerate(raw.to_numpy(dtype=float)):
        text = "–" if math.isnan(value) else f"{value:.2f}"
        ax.text(column, row, text, ha="center", va="center", fontsize=9, color="#111827")
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    colorbar = figure.colorbar(image, ax=ax, shrink=0.9)
    colorbar.set_label("normalized 0..1", fontsize=8)
    figure.suptitle("Model × benchmark: raw score, colored by its share of the metric's range", fontsize=12,
                    x=0.01, horizontalalignment="left")
    return figure


def subjects_figure(dataset: str, groups: pd.DataFrame, overall: pd.DataFrame, labels: dict[str, str],
                    colors: dict[str, tuple]) -> Figure:
    """One panel per model: each item group's mean score with its 95% interval, best at the top; with many groups
    only the best and worst SUBJECTS_EACH_END. The dashed line is the model's overall score."""
    groups = groups.assign(panel=groups["model"] + " · " + groups["profile"].astype(str))
    models = list(dict.fromkeys(groups["panel"]))
    shown = {model: best_and_worst_groups(groups[groups["panel"] == model]) for model in models}
    heights = [0.8 + 0.3 * (len(rows) + (1 if hidden else 0)) for rows, hidden in shown.values()]
    figure = Figure(figsize=(9, sum(heights) + 0.4), layout="constrained")
    axes = figure.subplots(len(models), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, panel in zip(axes, models, strict=False):
        rows, hidden = shown[panel]
        rows = rows.iloc[::-1]
        model, profile = rows["model"].iloc[0], rows["profile"].iloc[0]
        positions = [index + (1 if hidden and index >= SUBJECTS_EACH_END else 0) for index in range(len(rows))]
        ax.barh(positions, rows["value"], height=0.65, color=colors[model],
                xerr=_interval_errors(rows["value"], rows["ci_low"], rows["ci_high"]),
                error_kw={"ecolor": "#374151", "capsize": 2.5, "elinewidth": 1})
        group_labels = [f"{g}  (n={n})" for g, n in zip(rows["item_group"], rows["n"], strict=True)]
        ax.set_yticks(positions, group_labels, fontsize=8)
        metric_range = _metric_range(rows)
        if metric_range:
            ax.set_xlim(*metric_range)
        if hidden:
            ax.text(0.01, SUBJECTS_EACH_END, f"… {hidden} more in between …", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=8, color="#6b7280", style="italic")
        model_overall = overall.loc[(overall["model"] == model) & (overall["profile"] == profile), "value"]
        if not model_overall.empty:
            ax.axvline(model_overall.iloc[0], color="#111827", linestyle="--", linewidth=1,
                       label=f"overall {model_overall.iloc[0]:.3f}")
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), fontsize=8, frameon=False)  # above the bars
        ax.set_title(f"{labels.get(model, model)} · {profile} · {rows['variant'].iloc[0]}", loc="left", fontsize=10,
                     fontweight="bold")
        _style(ax)
    figure.suptitle(f"{dataset}: score per subject with 95% confidence interval", fontsize=12, x=0.01,
                    horizontalalignment="left")
    return figure


def best_and_worst_groups(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows (sorted best first) to draw, and how many were left out of the middle."""
    rows = rows.sort_values(["value", "item_group"], ascending=[False, True])
    if len(rows) <= 2 * SUBJECTS_EACH_END:
        return rows, 0
    return pd.concat([rows.head(SUBJECTS_EACH_END), rows.tail(SUBJECTS_EACH_END)]), len(rows) - 2 * SUBJECTS_EACH_END


def run_label(model_label: str, run_id: str) -> str:
    return f"{model_label} · {run_id[:8]}"


def run_cost_figure(runs: pd.DataFrame, labels: dict[str, str], colors: dict[str, tuple]) -> Figure:
    """Per run (newest at the top): GPU seconds, split into engine load and the rest, and throughput."""
    rows = runs.iloc[::-1]
    positions = range(len(rows))
    figure = Figure(figsize=(11, 1.3 + 0.38 * len(rows)), layout="constrained")
    gpu_ax, speed_ax = figure.subplots(1, 2, sharey=True)
    color = [colors[m] for m in rows["model"]]
    gpu_ax.barh(positions, rows["gpu_seconds"].fillna(0), color=color, height=0.6)
    load_gpu_seconds = (rows["engine_load_s"] * rows["tensor_parallel_size"].fillna(1)).fillna(0)
    gpu_ax.barh(positions, load_gpu_seconds.clip(upper=rows["gpu_seconds"].fillna(0)), height=0.6,
                color="none", edgecolor="#111827", hatch="///", linewidth=0)
    gpu_ax.set_yticks(list(positions), [run_label(labels.get(m, m), r) for m, r in zip(rows["model"],
                                                                                     rows["run_id"], strict=True)])
    gpu_ax.set_title("GPU seconds (hatched: engine load)", loc="left", fontsize=10, fontweight="bold")
    speed_ax.barh(positions, rows["tokens_per_second"].fillna(0), color=color, height=0.6)
    speed_ax.set_title("tokens / s (inference phase)", loc="left", fontsize=10, fontweight="bold")
    for ax, column, unit in ((gpu_ax, "gpu_seconds", " s"), (speed_ax, "tokens_per_second", "")):
        for position, value in zip(positions, rows[column], strict=True):
            if pd.notna(value):
                ax.annotate(f"{value:,.0f}{unit}", (value, position), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=8, annotation_clip=False)
        ax.margins(x=0.15)
        _style(ax)
    figure.suptitle("Run cost", fontsize=12, x=0.01, horizontalalignment="left")
    return figure


# ----------------------------------------------------------------------------------------------------- page


def _number(value, digits: int = 3, empty: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return empty
    return f"{value:,.{digits}f}"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """An HTML table; cells are already-escaped HTML, columns in `numeric` are right-aligned."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{h}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{cell}</td>'
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(images: dict[str, str], name: str, alt: str) -> str:
    return (f'<figure><img src="{html.escape(images[name])}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _empty(what: str = NO_RESULTS) -> str:
    return f'<p class="empty">{html.escape(what)}</p>'


def leaderboard_table(data: ReportData, labels: dict[str, str]) -> str:
    rows = []
    for row in data.leaderboard.itertuples():
        n = f"{row.n:,}"
        if row.n < SMALL_SAMPLE:
            n += f' <span class="warn" title="fewer than {SMALL_SAMPLE} items: a rough interval">small n</span>'
        interval = (f"[{_number(row.ci_low)}, {_number(row.ci_high)}]" if pd.notna(row.ci_low) else "–")
        metric = html.escape(row.metric)
        note = judge_note(row.model, row.judge if pd.notna(row.judge) else None)
        if note:
            metric += f'<br><small class="judge">{html.escape(note)}</small>'
        setting = html.escape(setting_label(row))
        if isinstance(row.reference, str) and row.reference:
            setting += f'<br><small class="setting">reproduces {html.escape(row.reference)}</small>'
        if isinstance(row.profile_label, str) and row.profile_label != row.profile:
            setting += f'<br><small class="setting">{html.escape(row.profile_label)}</small>'
        dataset = html.escape(row.dataset) + (' <span class="warn">fixture</span>' if row.is_fixture is True else "")
        rows.append([dataset, setting, html.escape(labels[row.model]), metric,
                     f"<b>{_number(row.value)}</b> ± {_number(row.stderr)}", interval, n,
                     f'<code title="{html.escape(row.spec_hash)}">{html.escape(row.spec_hash[:8])}</code>'])
    return _table(["dataset", "setting", "model", "metric", "value ± stderr", "95% CI", "n", "spec"], rows,
                  {4, 5, 6})


def comparison_table(data: ReportData, labels: dict[str, str]) -> str:
    """Every two models evaluated alike (same dataset, profile, variant), paired on the items both have."""
    if data.comparisons.empty:
        return _empty("no two models share a dataset evaluated under the same profile and variant")
    rows = []
    for c in data.comparisons.itertuples():
        interval = f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]" if pd.notna(c.ci_low) else "–"
        rows.append([html.escape(c.dataset), html.escape(f"{c.profile_label} · {c.variant}"), html.escape(c.metric),
                     html.escape(labels.get(c.model_a, c.model_a)), html.escape(labels.get(c.model_b, c.model_b)),
                     f"{c.n:,}", f"<b>{c.difference:+.3f}</b>", interval, _number(c.p_value),
                     f"{c.a_right_only} / {c.b_right_only}"])
    return _table(["dataset", "setting", "metric", "A", "B", "shared items", "A − B", "95% CI", "p",
                   "full marks only A / only B"], rows, {5, 6, 7, 8, 9})


def category_table(data: ReportData, labels: dict[str, str]) -> str:
    """Category memberships with at least one result; the registry lists many models nobody has evaluated yet."""
    evaluated = data.category_summary[data.category_summary["datasets_evaluated"] > 0]
    if evaluated.empty:
        return _empty()
    rows = [[html.escape(row.category), html.escape(labels.get(row.model, row.model)),
             html.escape(row.profile if isinstance(row.profile, str) else "–"),
             f"{row.datasets_evaluated} / {row.datasets_in_category}", f"{row.coverage:.0%}",
             _number(row.mean_normalized_score), str(row.datasets_in_mean)]
            for row in evaluated.itertuples()]
    omitted = len(data.category_summary) - len(evaluated)
    note = f'<p class="meta">{omitted} category memberships without any result are not listed.</p>' if omitted else ""
    return _table(["category", "model", "profile", "datasets evaluated", "coverage", "mean normalized score",
                   "in mean"], rows, {3, 4, 5, 6}) + note


def run_cost_table(data: ReportData, labels: dict[str, str]) -> str:
    rows = []
    for row in data.run_cost.head(MAX_RUNS_SHOWN).itertuples():
        datasets = ", ".join(row.datasets) if row.datasets is not None else ""
        started = row.started_at.strftime("%Y-%m-%d %H:%M") if pd.notna(row.started_at) else "–"
        rows.append([f'<code title="{html.escape(row.run_id)}">{html.escape(row.run_id[:8])}</code>',
                     html.escape(labels.get(row.model, row.model)), html.escape(datasets),
                     html.escape(f"{row.backend or ''} on {row.device or '?'} (tp={row.tensor_parallel_size})"),
                     started, _number(row.wall_s, 1), _number(row.engine_load_s, 1), _number(row.gpu_seconds, 1),
                     _number(row.samples, 0), _number(row.tokens_in + row.tokens_out, 0),
                     _number(row.tokens_per_second, 1)])
    return _table(["run", "model", "datasets", "engine", "started (UTC)", "wall s", "load s", "GPU s", "samples",
                   "tokens", "tokens/s"], rows, set(range(4, 11)))


CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #111827; background: #f9fafb; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 48px; background: #fff; min-height: 100vh;
       box-shadow: 0 0 0 1px #e5e7eb; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 2px solid #e5e7eb; }
.meta { color: #6b7280; margin: 0 0 8px; font-size: 13px; }
.summary { display: flex; gap: 12px; margin: 18px 0 0; flex-wrap: wrap; }
.summary div { background: #f3f4f6; border-radius: 8px; padding: 8px 14px; }
.summary b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0 4px; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e5e7eb; text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6;
       padding: 1px 4px; border-radius: 4px; white-space: nowrap; }
.judge, .setting { display: inline-block; max-width: 24em; color: #6b7280; }
.warn { background: #fef3c7; color: #92400e; border-radius: 4px; padding: 0 5px; font-size: 11px;
        font-weight: 600; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e7eb; border-radius: 6px; }
figcaption { color: #6b7280; font-size: 13px; margin-top: 4px; }
.empty { color: #6b7280; font-style: italic; background: #f9fafb; border: 1px dashed #d1d5db; border-radius: 6px;
         padding: 14px; }
.note { background: #eff6ff; border-left: 4px solid #3b82f6; padding: 10px 16px; border-radius: 4px;
        font-size: 14px; }
.note p { margin: 6px 0; }
"""


def stderr_note() -> str:
    return f"""<div class="note">
<p><b>Value ± stderr.</b> The value is the benchmark's primary metric averaged over its n items (accuracy,
exact match, pass@1, or MT-Bench's 1–10 judge score). The standard error says how much that average would move
if the benchmark had been drawn again from the same kind of items: it shrinks with the square root of n.</p>
<p><b>95% CI.</b> For 0/1 scores (accuracy, exact match) the Wilson score interval, widened to value ± {Z_95} ×
stderr where that is wider, so it never collapses at 0% or 100%; for other scores value ± {Z_95} × stderr, clipped to
the metric's range. Two models whose intervals overlap may still differ: the comparison pairs them on the same
items, which is far more sensitive. With fewer than {SMALL_SAMPLE} items
(<span class="warn">small n</span>) the approximation is rough and the interval wide: a smoke test, not a
ranking.</p>
<p><b>Settings.</b> Each result says its profile and benchmark variant (few-shot count, chat template) and the
published setting it reproduces. Results of different settings are different evaluations: they are never ranked,
averaged or compared together, and match a published leaderboard only where its settings are the same (the Open
LLM Leaderboard v1 used 25-shot ARC-Challenge and 10-shot HellaSwag: the <code>open_llm_leaderboard_v1</code>
profile).</p>
<p><b>Comparison.</b> A − B is the mean per-item difference of the primary metric on the items both models were
scored on, with its paired standard error (clustered by subject where items have one), 95% interval and two-sided
p-value; "full marks only A / only B" counts the items just one of them got fully right.</p>
<p><b>Heat map.</b> Each cell shows the raw score; its color maps the score onto 0..1 by the metric's range,
(value − min) / (max − min), so MT-Bench's 1..10 becomes (value − 1) / 9 and benchmarks on different scales
can be compared at a glance.</p>
</div>"""


def render_index(data: ReportData, images: dict[str, str]) -> str:
    labels = data.model_labels()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    board = data.leaderboard
    summary = "".join(f"<div><b>{count}</b>{html.escape(what)}</div>" for count, what in (
        (board["model"].nunique(), "models"), (board["dataset"].nunique(), "benchmarks"),
        (len(board), "results"), (len(data.run_cost), "runs")))
    subject_figures = "".join(_figure(images, name, f"{name.removeprefix('subjects_')}: score per subject "
                                                    "(best and worst groups, 95% CI; dashed: overall score)")
                              for name in images if name.startswith("subjects_"))
    runs_note = (f'<p class="meta">The {MAX_RUNS_SHOWN} newest of {len(data.run_cost)} runs.</p>'
                 if len(data.run_cost) > MAX_RUNS_SHOWN else "")
    sections = [
        ("Leaderboard", (leaderboard_table(data, labels)
                         + _figure(images, "leaderboard", "Primary metric per benchmark with its 95% confidence "
                                                          "interval")) if not board.empty
         else _empty(f"{NO_RESULTS}: evaluate a model (`make demo` or `llmeval evaluate`), then build the report "
                     "again")),
        ("Model × benchmark", _figure(images, "heatmap", "Raw scores; color: the score normalized onto 0..1 by "
                                                         "the metric's range") if "heatmap" in images else _empty()),
        ("Comparison", comparison_table(data, labels) if board["model"].nunique() > 1 else
         _empty("one model so far: the comparison needs two evaluated alike")),
        ("Per subject", subject_figures or _empty(f"{NO_RESULTS}: only benchmarks whose items carry a subject or "
                                                  "category (MMLU, MATH, MT-Bench) have this breakdown")),
        ("Categories", category_table(data, labels)),
        ("Run cost", (_figure(images, "run_cost", "Per run: GPU seconds (wall × tensor parallel size; hatched: "
                                                  "engine load) and prompt + output tokens per inference second")
                      + runs_note + run_cost_table(data, labels)) if not data.run_cost.empty else _empty()),
        ("How to read the numbers", stderr_note()),
    ]
    if data.failed_images:
        sections.insert(-1, ("Failed image items", failed_images_html(list(data.failed_images), labels)))
    body = "\n".join(f'<section id="{re.sub(r"[^a-z]+", "-", title.lower())}"><h2>{html.escape(title)}</h2>'
                     f"{content}</section>" for title, content in sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llmeval report</title>
<style>{CSS}{THUMBS_CSS if data.failed_images else ""}</style>
</head>
<body>
<main>
<h1>llmeval report</h1>
<p class="meta">Generated {generated} from <code>{html.escape(str(data.source))}</code></p>
<div class="summary">{summary}</div>
{body}
</main>
</body>
</html>
"""
