"""Registry commands: validate, categories, models, datasets, plan. They read only the YAML registry (no engine,
no Dagster), so they answer in well under two seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from llmeval_assets.judging import JudgeChoice
from llmeval_assets.paths import datasets_cache_dir, installed_data_path
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Registry, RegistryError, UnknownNameError, load_registry
from llmeval_assets.registry.hardware import check_fit

# soft_wrap: a message stays one line when piped or captured, so it can be grepped whatever the path lengths
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

RegistryOption = typer.Option(None, "--registry", help="Registry directory (default: ./registry or $LLMEVAL_REGISTRY)")
JsonOption = typer.Option(False, "--json", help="Machine-readable output")
# What to run, shared by `plan` and `evaluate` (whose --dry-run prints the same plan)
CategoryOption = typer.Option(None, "--category", "-c")
ModelOption = typer.Option(None, "--model", "-m")
DatasetOption = typer.Option(None, "--dataset", "-d")
SamplesOption = typer.Option(None, "--samples", "-n", help="Samples per dataset")
PresetOption = typer.Option(None, "--preset", "-p")
IncludeOptionalOption = typer.Option(False, "--include-optional")
EverythingOption = typer.Option(False, "--all", help="Every category and model")
# How MT-Bench is judged (judging.JudgeChoice): part of its results' freshness, so `plan` takes them too
JudgeOption = typer.Option(None, "--judge", help="Registry model judging MT-Bench (default: $LLMEVAL_JUDGE_MODEL, "
                                                 "else the model itself, a smoke test)")
JudgeMaxTokensOption = typer.Option(None, "--judge-max-tokens", min=1,
                                    help="Cap each judgment (default FastChat's 2048)")
JudgeRatingFallbackOption = typer.Option(
    False, "--judge-rating-fallback",
    help="When a judgment has no [[rating]], rate by the judge's likelihood of each 1-10 (for small judges)")
# How to evaluate (profiles.ProfileChoice): part of a result's identity, so `plan` takes them too
ProfileOption = typer.Option(None, "--profile", help="Evaluation profile of registry/profiles.yaml (default: each "
                                                     "category's own, usually `default`)")
VariantOption = typer.Option(None, "--variant", help="Benchmark variant (`llmeval datasets --json` lists them)")
NumFewshotOption = typer.Option(None, "--num-fewshot", help="Exemplars per prompt")
ChatTemplateOption = typer.Option(None, "--chat-template/--no-chat-template",
                                  help="Send prompts (or log-likelihood contexts) through the model's chat template")
SystemInstructionOption = typer.Option(None, "--system-instruction", help="A system turn (or text before the prompt)")
GenKwargsOption = typer.Option(None, "--gen-kwargs", help="Generation settings forced on every request: "
                                                          "key=value,... of max_tokens, temperature, top_p, n, "
                                                          "stop (a|b), seed")
DtypeOption = typer.Option(None, "--dtype", help="Engine dtype: float32, bfloat16 or float16")
LimitOption = typer.Option(None, "--limit", help="The first N test items in dataset order (as lm-eval's --limit)")
ItemsOption = typer.Option(None, "--items", help="A file of item ids to evaluate: one per line, or a JSON list")
FewshotFromOption = typer.Option(None, "--fewshot-from", help="Exemplars from a JSONL file of dataset rows, used "
                                                              "in the file's order")
SeedOption = typer.Option(None, "--seed", help="Sampling seed of every request")


def profile_choice_or_exit(profile: str | None = None, variant: str | None = None, num_fewshot: int | None = None,
                           chat_template: bool | None = None, system_instruction: str | None = None,
                           gen_kwargs: str | None = None, dtype: str | None = None, limit: int | None = None,
                           items: Path | None = None, fewshot_from: Path | None = None,
                           seed: int | None = None) -> ProfileChoice:
    """The profile and run-level overrides the options name, each checked (a clear error, exit 2)."""
    import hashlib

    from llmeval_assets.profiles import OverrideError, RunOverrides, parse_gen_kwargs, read_item_ids

    try:
        sampling = dict(parse_gen_kwargs(gen_kwargs))
        if seed is not None:
            if "seed" in sampling and sampling["seed"] != seed:
                raise OverrideError(f"--seed {seed} and --gen-kwargs seed={sampling['seed']} disagree")
            sampling["seed"] = seed
        digest = ""
        if fewshot_from is not None:
            try:
                digest = hashlib.sha256(fewshot_from.read_bytes()).hexdigest()
            except OSError as exc:
                raise OverrideError(f"--fewshot-from {fewshot_from}: cannot read: {exc}") from None
        overrides = RunOverrides(
            variant=variant, num_fewshot=num_fewshot, chat_template=chat_template,
            system_instruction=system_instruction, gen_kwargs=tuple(sorted(sampling.items())), dtype=dtype,
            limit=limit, item_ids=read_item_ids(items) if items else (),
            fewshot_file=str(fewshot_from.resolve()) if fewshot_from else None, fewshot_digest=digest)
    except OverrideError as exc:
        fail(str(exc))
    return ProfileChoice(profile, overrides)


ModelArgsOption = typer.Option(None, "--model-args", help="For --model hf:ORG/NAME[@REV] or ./checkpoint: "
                                                           "dtype=...,max_model_len=...,tensor_parallel_size=...,"
                                                           "params_b=...,instruct=true|false,display_name=...")


def adhoc_model_or_exit(reg: Registry, registry_dir: Path | None, model: str | None, model_args: str | None,
                        category: str | None, dataset: str | None, persist: bool) -> tuple[Registry, str | None]:
    """For --model hf:ORG/NAME[@REV] or a checkpoint path: the registry with that model added (recorded in
    <LLMEVAL_HOME>/adhoc_models.yaml when `persist`, so the Dagster run sees it; validated like any entry) and its
    key. Registry models pass through; --model-args is refused for them."""
    import tempfile

    from llmeval_assets.engine.weights import hf_token
    from llmeval_assets.registry import adhoc_path
    from llmeval_assets.registry.adhoc import (
        AdhocModelError,
        adhoc_model,
        is_adhoc_reference,
        parse_model_args,
        record_adhoc,
    )

    if model is None or not is_adhoc_reference(model):
        if model_args:
            fail("--model-args applies to --model hf:ORG/NAME or ./checkpoint; a registry model's settings live in "
                 "registry/models.yaml")
        return reg, model
    try:
        entry = adhoc_model(model, parse_model_args(model_args), token=hf_token())
        if category:
            categories = [reg.resolve_category(category)]
        elif dataset:
            wanted = reg.resolve_dataset(dataset)
            owners = [name for field in ("primary_datasets", "optional_datasets") for name, c in reg.categories.items()
                      if wanted in {reg.resolve_dataset(d) for d in getattr(c, field)}]
            if not owners:
                raise AdhocModelError(f"no category lists dataset {wanted!r}, so no settings apply to it")
            categories = owners[:1]  # the settings a registry model would get for that dataset
        else:
            raise AdhocModelError(f"--model {model!r} is in no category: choose what to run with --dataset D or "
                                  "--category C")
    except (AdhocModelError, UnknownNameError) as exc:
        fail(str(exc))
    target = adhoc_path()
    if not persist:  # plan: see the model as a run would, without recording it
        scratch = Path(tempfile.mkdtemp(prefix="llmeval-adhoc-")) / "adhoc_models.yaml"
        if target.is_file():
            scratch.write_text(target.read_text())
        target = scratch
    record_adhoc(target, entry, categories)
    try:
        return load_registry(registry_dir, adhoc=target), entry.key
    except RegistryError as exc:
        if persist:  # leave no invalid entry behind
            from llmeval_assets.registry.adhoc import forget_adhoc

            forget_adhoc(target, entry.key)
        err_console.print(str(exc), style="red", highlight=False, markup=False)
        raise typer.Exit(1) from None


def load_or_exit(registry_dir: Path | None) -> Registry:
    try:
        registry = load_registry(registry_dir)
    except RegistryError as exc:
        err_console.print(str(exc), style="red", highlight=False, markup=False)
        raise typer.Exit(1) from None
    return registry


def fail(message: str) -> None:
    err_console.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(2)


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def model_rows(registry: Registry, category: str | None) -> list[dict[str, Any]]:
    keys = registry.categories[category].models if category else registry.models
    gpu_name = registry.hardware.default_gpu
    gpu = registry.hardware.gpus[gpu_name]
    rows = []
    for key in keys:
        m = registry.models[key]
        settings = registry.engine_settings(key)
        fit = check_fit(m, m.gpus, settings.gpu_memory_utilization, gpu,
                        registry.hardware.runtime_overhead_gb)
        rows.append({
            "key": key, "display_name": m.display_name, "hf_id": m.hf_id, "revision": m.revision,
            "kind": m.kind.value, "params_b": m.params_b, "active_params_b": m.active_params_b,
            "dtype": m.dtype.value, "quantization": m.quantization.value, "license": m.license, "gated": m.gated,
            "instruct": m.instruct, "reasoning": m.reasoning, "context_window": m.context_window,
            "max_model_len": settings.max_model_len, "tensor_parallel_size": m.tensor_parallel_size,
            "pipeline_parallel_size": m.pipeline_parallel_size, "gpus": m.gpus,
            "min_gpus": fit.min_tensor_parallel_size if m.params_b else 0,
            "weights_gb": round(fit.weights_gb, 1), "gpu_memory_utilization": settings.gpu_memory_utilization,
            "max_num_seqs": settings.max_num_seqs, "preset": m.preset,
            "categories": registry.categories_of(key), "removed_from": registry.removed_from(key),
            "aliases": list(m.aliases), "notes": list(m.notes),
        })
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(registry: Path | None = RegistryOption) -> None:
        """Validate the registry; list every problem (file, key, field) and exit non-zero if there is one."""
        from llmeval_assets.evaluation import profile_problems

        reg = load_or_exit(registry)
        errors, conflicts = profile_problems(reg)
        for warning in [*reg.warnings, *conflicts]:
            err_console.print(f"warning: {warning}", highlight=False, markup=False)
        if errors:
            err_console.print(f"invalid registry {reg.root} ({len(errors)} problem(s)):\n"
                              + "\n".join(f"  - {e}" for e in errors), style="red", highlight=False, markup=False)
            raise typer.Exit(1)
        console.print(f"registry {reg.root} is valid: {len(reg.models)} models "
                      f"(+{len(reg.model_aliases)} aliases), {len(reg.categories)} categories, "
                      f"{len(reg.datasets)} datasets ({sum(d.supported for d in reg.datasets.values())} supported), "
                      f"{len(reg.presets)} presets, {len(reg.profiles)} profiles; "
                      f"{len(reg.warnings) + len(conflicts)} warning(s)", highlight=False)

    @app.command()
    def categories(registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """The evaluation categories with their models, datasets and settings."""
        reg = load_or_exit(registry)
        rows: list[dict[str, Any]] = [
                {"name": name, "description": c.description, "priority": c.priority, "models": list(c.models),
                 "removed_models": c.removed_models, "primary_datasets": list(c.primary_datasets),
                 "optional_datasets": list(c.optional_datasets),
                 "unsupported_datasets": [d for d in (*c.primary_datasets, *c.optional_datasets)
                                          if not reg.datasets[reg.resolve_dataset(d)].supported],
                 "settings": c.settings.model_dump(), "profile": c.profile, "key_metrics": list(c.key_metrics)}
                for name, c in reg.categories.items()]
        if as_json:
            return emit_json(rows)
        table = Table("category", "models", "primary datasets", "optional", "profile", "samples", "timeout")
        def mark(ds: list[str], unsupported: list[str]) -> str:
            return ", ".join(d if d not in unsupported else f"({d})" for d in ds)

        for r in rows:
            s = r["settings"]
            table.add_row(r["name"], f"{len(r['models'])} (+{len(r['removed_models'])} removed)",
                          mark(r["primary_datasets"], r["unsupported_datasets"]),
                          mark(r["optional_datasets"], r["unsupported_datasets"]), r["profile"],
                          str(s["sample_limit"]), f"{s['timeout_s']}s")
        console.print(table)
        console.print("(dataset) = declared but not supported: `llmeval datasets` says why", highlight=False)

    @app.command()
    def profiles(registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """The evaluation profiles: what each reproduces, its variant rule, dtype and per-benchmark settings, and the
        categories that use it."""
        reg = load_or_exit(registry)
        rows: list[dict[str, Any]] = [
                {"name": name, "description": p.description, "reference": p.reference, "variants": p.variants,
                 "dtype": p.dtype.value if p.dtype else None,
                 "benchmarks": {b: s.model_dump(exclude_defaults=True) for b, s in p.benchmarks.items()},
                 "categories": [c for c, e in reg.categories.items() if e.profile == name]}
                for name, p in reg.profiles.items()]
        if as_json:
            return emit_json(rows)
        table = Table("profile", "reproduces", "variants", "benchmarks", "used by")
        for r in rows:
            settings = "\n".join(f"{b}: " + ", ".join(f"{k}={v}" for k, v in s.items()) for b, s in
                                  r["benchmarks"].items()) or "-"
            table.add_row(r["name"], r["reference"], r["variants"] + (f", {r['dtype']}" if r["dtype"] else ""),
                          settings, ", ".join(r["categories"]) or "-")
        console.print(table)
        return None

    @app.command()
    def models(category: str | None = typer.Option(None, "--category", "-c"),
               registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """Every model with its checkpoint, size, parallelism, categories, aliases and notes."""
        reg = load_or_exit(registry)
        try:
            cat = reg.resolve_category(category) if category else None
        except UnknownNameError as exc:
            return fail(str(exc))
        rows = model_rows(reg, cat)
        if as_json:
            return emit_json(rows)
        table = Table("key", "hf_id", "kind", "params", "TP", "fit GB", "categories", "notes")
        for r in rows:
            params = f"{r['params_b']:g}B" if r["params_b"] else "-"
            if r["active_params_b"]:
                params += f" ({r['active_params_b']:g}B act.)"
            cats = ", ".join(r["categories"]) or "[yellow]none[/yellow]"
            if r["removed_from"]:
                cats += "".join(f"\n[red]removed from {c}: {why}[/red]" for c, why in r["removed_from"].items())
            names = r["key"] + "".join(f"\n alias {a}" for a in r["aliases"])
            table.add_row(names, r["hf_id"] or "-", r["kind"], params, str(r["tensor_parallel_size"]),
                          str(r["weights_gb"]), cats, "\n".join(r["notes"]))
        console.print(table)

    @app.command()
    def datasets(registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """Every dataset: supported or not (and why), cached snapshot, available offline."""
        from llmeval_assets.benchmarks.base import get_benchmark

        reg = load_or_exit(registry)
        rows: list[dict[str, Any]] = []
        for name, d in reg.datasets.items():
            variants = []
            if d.supported and d.benchmark:
                benchmark = get_benchmark(d.benchmark)
                for variant in benchmark.variants():
                    spec = benchmark.task_spec(variant)
                    variants.append({"variant": variant, "reference": spec.reference,
                                     "primary_metric": spec.primary_metric, "num_fewshot": spec.num_fewshot,
                                     "chat_template": spec.use_chat_template, "request_kind": spec.request_kind,
                                     "default_for": [kind for kind, v in (("base models", benchmark.default_variant),
                                                                          ("instruct models", benchmark.chat_variant))
                                                     if v == variant]})
            snapshots = sorted((datasets_cache_dir() / name).glob("*.parquet"))
            offline = bool(d.offline) and all(installed_data_path(s.path) for s in d.offline)
            rows.append({"name": name, "display_name": d.display_name, "supported": d.supported,
                         "benchmark": d.benchmark, "n_items": d.n_items, "aliases": list(d.aliases),
                         "hf": d.hf.model_dump() if d.hf else None, "available_offline": offline,
                         "cached": bool(snapshots), "snapshot": snapshots[-1].name if snapshots else None,
                         "variants": variants,
                         "reason": d.reason,
                         "categories": [c for c, e in reg.categories.items()
                                        if name in {reg.resolve_dataset(x) for x in
                                                    (*e.primary_datasets, *e.optional_datasets)}]})
        if as_json:
            return emit_json(rows)
        table = Table("dataset", "supported", "items", "offline", "cached", "categories", "note")
        for r in rows:
            table.add_row(r["name"], "yes" if r["supported"] else "[red]no[/red]", str(r["n_items"] or "-"),
                          "yes" if r["available_offline"] else "no", "yes" if r["cached"] else "no",
                          ", ".join(r["categories"]), r["reason"] or "")
        console.print(table)

    @app.command()
    def plan(category: str | None = CategoryOption, model: str | None = ModelOption,
             dataset: str | None = DatasetOption, samples: int | None = SamplesOption,
             preset: str | None = PresetOption, include_optional: bool = IncludeOptionalOption,
             everything: bool = EverythingOption,
             gpu: str | None = typer.Option(None, "--gpu", help="GPU type for the memory check"),
             status: bool = typer.Option(True, "--status/--no-status",
                                         help="Show fresh / stale / missing, and models whose weights cannot be had"),
             judge: str | None = JudgeOption, judge_max_tokens: int | None = JudgeMaxTokensOption,
             judge_rating_fallback: bool = JudgeRatingFallbackOption,
             profile: str | None = ProfileOption, variant: str | None = VariantOption,
             num_fewshot: int | None = NumFewshotOption, chat_template: bool | None = ChatTemplateOption,
             system_instruction: str | None = SystemInstructionOption,
             gen_kwargs: str | None = GenKwargsOption, dtype: str | None = DtypeOption,
             limit: int | None = LimitOption, items: Path | None = ItemsOption,
             fewshot_from: Path | None = FewshotFromOption, seed: int | None = SeedOption,
             model_args: str | None = ModelArgsOption,
             registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """The (model, dataset) partitions a selection would run, with the profile and variant of each, samples,
        GPUs, a time estimate and whether each is fresh, stale (and why) or missing."""
        choice = profile_choice_or_exit(profile, variant, num_fewshot, chat_template, system_instruction,
                                        gen_kwargs, dtype, limit, items, fewshot_from, seed)
        reg, model = adhoc_model_or_exit(load_or_exit(registry), registry, model, model_args, category, dataset,
                                         persist=False)
        show_plan(reg, as_json=as_json, status=status,
                  judge=JudgeChoice(judge, judge_max_tokens, judge_rating_fallback), choice=choice,
                  category=category, model=model, dataset=dataset, samples=samples, preset=preset,
                  include_optional=include_optional, gpu=gpu, everything=everything)


def show_plan(reg: Registry, *, as_json: bool, status: bool, judge: JudgeChoice, choice: ProfileChoice,
              **selection: Any) -> dict[str, str]:
    """Print the plan; returns the models with work to do whose weights cannot be had (see blocked_weights)."""
    judge_or_exit(reg, judge)
    plan = plan_or_exit(reg, choice=choice, **selection)
    payload = plan.as_dict()
    statuses = partition_statuses(reg, payload["partitions"], selection.get("samples"), judge, choice,
                                  selection.get("preset")) if status else None
    for partition, state in zip(payload["partitions"], statuses or [], strict=False):
        partition.update(status=state["status"], reasons=state["reasons"])
    # --no-status looks at nothing outside the registry: neither the results nor the weights
    blocked = blocked_weights(reg, {s["model"] for s in statuses or [] if s["status"] != "fresh"})
    for planned in payload["models"]:
        if planned["key"] in blocked:
            planned["blocked"] = blocked[planned["key"]]
    for key, reason in sorted(blocked.items()):
        err_console.print(f"warning: {key}: {reason}; a run would fail when it fetches the weights",
                          highlight=False, markup=False)
    if as_json:
        emit_json(payload)
        return blocked
    print_plan(plan, statuses)
    if statuses:
        todo = sum(s["status"] != "fresh" for s in statuses)
        console.print(f"{todo} of {len(statuses)} partitions are stale or missing", highlight=False)
    return blocked


def blocked_weights(reg: Registry, models: set[str]) -> dict[str, str]:
    """engine.weights.blocked_models (the registry sensor's rule), as the reason to print per model."""
    from llmeval_assets.engine.weights import blocked_models

    return {key: status.blocked_reason for key, status in blocked_models(reg, sorted(models)).items()}


def partition_statuses(reg: Registry, partitions: list[dict[str, Any]], samples: int | None,
                       judge: JudgeChoice, choice: ProfileChoice, preset: str | None = None) -> list[dict[str, Any]]:
    """Freshness of each planned partition against the results stored under .llmeval/lake."""
    from llmeval_assets.evaluation import EngineContext, partition_status
    from llmeval_assets.paths import lake_dir
    from llmeval_assets.storage.lake import ResultsLake

    lake, engine = ResultsLake(lake_dir()), EngineContext.installed()
    return [partition_status(reg, lake, p["model"], p["dataset"], choice, samples, judge, engine, preset).as_dict()
            for p in partitions]


def judge_or_exit(reg: Registry, judge: JudgeChoice) -> None:
    try:
        judge.check(reg)
    except UnknownNameError as exc:
        fail(str(exc))


def plan_or_exit(reg: Registry, **selection: Any):
    from llmeval_assets.planning import PlanError, build_plan

    try:
        return build_plan(reg, **selection)
    except (PlanError, UnknownNameError) as exc:
        fail(str(exc))


def print_plan(plan, statuses: list[dict[str, Any]] | None = None) -> None:
    """The plan as tables; with statuses (from the results lake), each partition's freshness too."""
    columns = ["model", "dataset", "profile", "variant", "backend", "samples", "requests", "settings from", "est."]
    table = Table(*columns, *(["status"] if statuses else []))
    colour = {"fresh": "green", "stale": "yellow", "missing": "red"}
    for i, p in enumerate(plan.partitions):
        variant = f"{p.variant} ({p.num_fewshot}-shot{', chat' if p.chat_template else ''})"
        row = [p.model, p.dataset, p.profile, variant, p.backend, str(p.samples), str(p.requests),
               p.category + (" (optional)" if p.optional else ""), f"{p.est_seconds:.0f}s"]
        if statuses:
            s = statuses[i]
            row.append(f"[{colour[s['status']]}]{s['status']}[/] " + "; ".join(s["reasons"]))
        table.add_row(*row)
    console.print(table)
    mtable = Table("model", "GPUs (TP)", "min GPUs", "weights GB", "gpu mem", "max_model_len", "est.")
    for m in plan.models:
        fits = "" if m.fits else " [red]does not fit[/red]"
        mtable.add_row(m.key, str(m.tensor_parallel_size) + fits, str(m.min_gpus), str(m.weights_gb),
                       f"{m.gpu_memory_utilization:.2f}", str(m.max_model_len), f"{m.est_seconds / 60:.1f} min")
    console.print(mtable)
    for s in plan.skipped:
        console.print(f"skipped {s.model or ''}{'/' if s.model and s.dataset else ''}{s.dataset or ''}: {s.reason}",
                      highlight=False, markup=False)
    for label in dict.fromkeys(p.profile_label for p in plan.partitions if p.profile_label != p.profile):
        console.print(f"profile {next(p.profile for p in plan.partitions if p.profile_label == label)}: {label}",
                      highlight=False, markup=False)
    for conflict in dict.fromkeys(c for p in plan.partitions for c in p.conflicts):
        console.print(f"note: {conflict}", highlight=False, markup=False)
    total = plan.as_dict()["total"]
    console.print(f"{total['partitions']} partitions over {total['models']} models, {total['requests']} requests, "
                  f"~{total['gpu_hours']} GPU-hours on {plan.gpu} (rough estimate)", highlight=False)
