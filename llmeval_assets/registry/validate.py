"""Rules that relate registry entries to each other. Each rule appends `Problem`s (errors) or warning strings;
`load_registry` refuses the whole registry if any error is found, so nothing is ever half-loaded."""

from __future__ import annotations

import difflib
import importlib.util
import math
from collections.abc import Iterable
from pathlib import Path

from llmeval_assets.registry.hardware import bytes_per_param, check_fit, usable_gb_per_gpu
from llmeval_assets.registry.loader import Problem
from llmeval_assets.registry.schema import (
    CategoryEntry,
    DatasetEntry,
    HardwareEntry,
    ModelEntry,
    PresetEntry,
    ProfileEntry,
    RequestKind,
)

MODELS, CATEGORIES, DATASETS, PROFILES = "models.yaml", "categories.yaml", "datasets.yaml", "profiles.yaml"
DEFAULT_PROFILE = "default"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def build_aliases(entries: dict[str, ModelEntry] | dict[str, DatasetEntry], filename: str,
                  problems: list[Problem]) -> dict[str, str]:
    """alias -> canonical key. An alias may not equal any key, nor another entry's alias."""
    aliases: dict[str, str] = {}
    for key, entry in entries.items():
        for alias in entry.aliases:
            if alias in entries:
                problems.append(Problem(filename, key, "aliases", f"alias {alias!r} collides with the key of "
                                                                  f"another entry ({alias!r})"))
            elif alias in aliases:
                problems.append(Problem(filename, key, "aliases", f"alias {alias!r} already names "
                                                                  f"{aliases[alias]!r}"))
            else:
                aliases[alias] = key
    return aliases


def check_models(models: dict[str, ModelEntry], presets: dict[str, PresetEntry], hardware: HardwareEntry | None,
                 problems: list[Problem]) -> None:
    for key, m in models.items():
        if m.preset not in presets:
            problems.append(Problem(MODELS, key, "preset", f"unknown preset {m.preset!r}; known: "
                                                           f"{', '.join(sorted(presets))}"))
        if m.max_model_len is not None and m.max_model_len > m.context_window:
            problems.append(Problem(MODELS, key, "max_model_len",
                                    f"{m.max_model_len} exceeds the model's context_window {m.context_window}"))
        tp = m.tensor_parallel_size
        if tp & (tp - 1):
            problems.append(Problem(MODELS, key, "tensor_parallel_size",
                                    f"{tp} is not a power of two (vLLM splits attention heads evenly)"))
        if hardware is None or m.params_b is None or m.preset not in presets:
            continue
        gpu_name = hardware.default_gpu
        gpu = hardware.gpus.get(gpu_name)
        if gpu is None:
            continue
        if tp > gpu.gpus_per_node:
            problems.append(Problem(MODELS, key, "tensor_parallel_size",
                                    f"{tp} exceeds the {gpu.gpus_per_node} GPUs of one {gpu_name} node"))
            continue
        problems.extend(fit_problems(key, m, presets[m.preset], hardware, gpu_name))


def fit_problems(key: str, m: ModelEntry, preset: PresetEntry, hardware: HardwareEntry,
                 gpu_name: str) -> list[Problem]:
    """Weights must fit on all the model's GPUs: tensor_parallel_size x pipeline_parallel_size, which (unlike
    tensor parallelism alone) may span nodes."""
    gpu = hardware.gpus[gpu_name]
    util = m.gpu_memory_utilization or preset.gpu_memory_utilization
    tp, pp = m.tensor_parallel_size, m.pipeline_parallel_size
    fit = check_fit(m, m.gpus, util, gpu, hardware.runtime_overhead_gb)
    if fit.fits:
        return []
    per_node_gb = gpu.gpus_per_node * usable_gb_per_gpu(gpu, util, hardware.runtime_overhead_gb)
    if fit.min_tensor_parallel_size and pp == 1:
        advice = f"use tensor_parallel_size >= {fit.min_tensor_parallel_size}"
    elif fit.min_tensor_parallel_size:
        advice = (f"use tensor_parallel_size >= {fit.min_tensor_parallel_size} and pipeline_parallel_size 1 "
                  f"(it fits on one node)")
    elif per_node_gb > 0:
        nodes = math.ceil(fit.weights_gb / per_node_gb)
        advice = (f"it does not fit on one node: quantize it, or spread it over {nodes} nodes with "
                  f"tensor_parallel_size {gpu.gpus_per_node} and pipeline_parallel_size {nodes} (vLLM on Ray, "
                  f"see deploy/ray/README.md)")
    else:
        advice = f"gpu_memory_utilization {util:.2f} leaves no memory for weights after the runtime overhead"
    precision = m.quantization.value if m.quantization.value != "none" else m.dtype.value
    gpus = f"{tp} x {gpu_name}" if pp == 1 else \
        f"{m.gpus} x {gpu_name} (tensor_parallel_size {tp} x pipeline_parallel_size {pp})"
    return [Problem(MODELS, key, "tensor_parallel_size",
                    f"weights need {fit.weights_gb:.1f} GB ({m.params_b:g}B params x "
                    f"{bytes_per_param(m):g} bytes, {precision}) but {gpus} at "
                    f"gpu_memory_utilization {util:.2f} leaves {fit.usable_gb:.1f} GB "
                    f"({hardware.runtime_overhead_gb:g} GB runtime overhead per GPU); {advice}")]


BENCHMARKS_PACKAGE = "llmeval_assets.benchmarks"


def check_datasets(datasets: dict[str, DatasetEntry], problems: list[Problem]) -> None:
    """A dataset's `benchmark` names a module of llmeval_assets/benchmarks/. Looked up as a file, not imported:
    the registry sits below the benchmarks."""
    package = importlib.util.find_spec(BENCHMARKS_PACKAGE)
    assert package is not None and package.submodule_search_locations
    modules = {p.stem for folder in package.submodule_search_locations for p in Path(folder).glob("[!_]*.py")}
    for key, entry in datasets.items():
        if entry.benchmark is not None and entry.benchmark not in modules:
            problems.append(Problem(DATASETS, key, "benchmark",
                                    f"no benchmark module llmeval_assets/benchmarks/{entry.benchmark}.py"
                                    f"{did_you_mean(entry.benchmark, modules)}"))


def check_categories(categories: dict[str, CategoryEntry], models: dict[str, ModelEntry],
                     model_aliases: dict[str, str], datasets: dict[str, DatasetEntry],
                     dataset_aliases: dict[str, str], problems: list[Problem]) -> None:
    for name, cat in categories.items():
        seen_datasets: dict[str, str] = {}
        for field in ("primary_datasets", "optional_datasets"):
            for ref in getattr(cat, field):
                canonical = dataset_aliases.get(ref, ref)
                if canonical not in datasets:
                    problems.append(Problem(CATEGORIES, name, field, f"unknown dataset {ref!r}"
                                            f"{did_you_mean(ref, list(datasets) + list(dataset_aliases))}"))
                    continue
                if canonical in seen_datasets:
                    same = f" (as {ref!r}, an alias)" if ref != canonical else ""
                    problems.append(Problem(CATEGORIES, name, field, f"dataset {canonical!r}{same} is already "
                                            f"listed in {seen_datasets[canonical]}"))
                    continue
                seen_datasets[canonical] = field
        needs = {need for d in seen_datasets for need in datasets[d].needs}
        seen_models: set[str] = set()
        for ref in cat.models:
            if ref in seen_models:
                problems.append(Problem(CATEGORIES, name, "models", f"model {ref!r} is listed twice"))
                continue
            seen_models.add(ref)
            if ref in model_aliases:  # members are keys: results and settings are stored under them
                canonical = model_aliases[ref]
                listed = f"; {canonical!r} is already listed" if canonical in cat.models else ""
                problems.append(Problem(CATEGORIES, name, "models", f"{ref!r} is an alias of model {canonical!r}"
                                        f"{listed}: list a model by its key"))
                continue
            if ref not in models:
                problems.append(Problem(CATEGORIES, name, "models",
                                        f"unknown model {ref!r}{did_you_mean(ref, models)}"))
                continue
            if ref in cat.removed_models:
                problems.append(Problem(CATEGORIES, name, "removed_models",
                                        f"model {ref!r} is both a member and removed"))
            problems.extend(capability_problems(name, ref, models[ref], needs, seen_datasets, datasets))
        problems.extend(Problem(CATEGORIES, name, "removed_models", f"unknown model {ref!r}{did_you_mean(ref, models)}")
                        for ref in cat.removed_models if ref not in models)


def capability_problems(category: str, key: str, model: ModelEntry, needs: set[RequestKind],
                        category_datasets: dict[str, str], datasets: dict[str, DatasetEntry]) -> list[Problem]:
    lacking = []
    if RequestKind.generate in needs and not model.kind.can_generate:
        lacking.append(RequestKind.generate)
    if RequestKind.loglikelihood in needs and not model.kind.can_score_loglikelihood:
        lacking.append(RequestKind.loglikelihood)
    if not lacking:
        return []
    what = " and ".join(
        ("generation" if need is RequestKind.generate else "log-likelihood scoring") for need in lacking)
    needing = sorted(d for d in category_datasets if set(datasets[d].needs) & set(lacking))
    return [Problem(CATEGORIES, category, "models",
                    f"{key!r} is a {model.kind.value} model but {', '.join(needing)} need {what}; move it to "
                    f"removed_models with the reason")]


def check_profiles(profiles: dict[str, ProfileEntry], categories: dict[str, CategoryEntry],
                   datasets: dict[str, DatasetEntry], problems: list[Problem]) -> None:
    """The default profile exists, categories name known profiles, and a profile names only benchmarks some
    dataset runs (whether a variant and its settings are possible is checked by the benchmarks themselves, see
    llmeval_assets.evaluation.profile_problems)."""
    if DEFAULT_PROFILE not in profiles:
        problems.append(Problem(PROFILES, "", "", f"the {DEFAULT_PROFILE!r} profile is missing (categories that "
                                                  "name no profile use it)"))
    for name, cat in categories.items():
        if cat.profile not in profiles:
            problems.append(Problem(CATEGORIES, name, "profile", f"unknown profile {cat.profile!r}"
                                                                 f"{did_you_mean(cat.profile, profiles)}"))
    benchmarks = {d.benchmark for d in datasets.values() if d.benchmark}
    for name, profile in profiles.items():
        for benchmark in profile.benchmarks:
            if benchmark not in benchmarks:
                hint = did_you_mean(benchmark, benchmarks)
                problems.append(Problem(PROFILES, name, f"benchmarks.{benchmark}",
                                        f"no dataset runs benchmark {benchmark!r}{hint}"))


def uncategorized_warnings(categories: dict[str, CategoryEntry], models: dict[str, ModelEntry]) -> list[str]:
    placed = {m for c in categories.values() for m in (*c.models, *c.removed_models)}
    return [f"models.yaml: {key}: in no category (add it to one to evaluate it: categories choose its "
            "datasets)"
            for key in models if key not in placed]
