"""The registry: models, categories, datasets, presets, evaluation profiles and GPU types, loaded from registry/*.yaml
and validated as a whole on every load. `load_registry()` returns a complete, consistent `Registry` or raises
`RegistryError` listing every problem (file, key, field, what is wrong)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from functools import cached_property
from pathlib import Path

from llmeval_assets.paths import PROJECT_ROOT, llmeval_home
from llmeval_assets.registry.adhoc import ADHOC_FILE, read_adhoc
from llmeval_assets.registry.loader import (
    REGISTRY_FILES,
    Problem,
    RegistryError,
    parse_entries,
    parse_single,
    read_section,
)
from llmeval_assets.registry.presets import EngineSettings, engine_settings
from llmeval_assets.registry.schema import (
    AutomationEntry,
    CategoryEntry,
    DatasetEntry,
    GenerationSettings,
    HardwareEntry,
    ModelEntry,
    PresetEntry,
    ProfileEntry,
)
from llmeval_assets.registry.validate import (
    build_aliases,
    check_categories,
    check_datasets,
    check_models,
    check_profiles,
    did_you_mean,
    uncategorized_warnings,
)

__all__ = [
    "EngineSettings",
    "Pair",
    "Problem",
    "Registry",
    "RegistryError",
    "UnknownModelError",
    "UnknownNameError",
    "default_registry_dir",
    "load_registry",
]


def default_registry_dir() -> Path:
    return Path(os.environ.get("LLMEVAL_REGISTRY", PROJECT_ROOT / "registry"))


class UnknownNameError(ValueError):
    pass


class UnknownModelError(UnknownNameError):
    pass


def _resolve(name: str, keys: Mapping[str, object], aliases: Mapping[str, str], kind: str, command: str,
             error: type[UnknownNameError] = UnknownNameError) -> str:
    """The registry key `name` is or is an alias of; else `error` with the nearest names and the command listing
    them all."""
    if name in keys:
        return name
    if name in aliases:
        return aliases[name]
    raise error(f"unknown {kind} {name!r}{did_you_mean(name, [*keys, *aliases])}; `llmeval {command}` lists them")


@dataclass(frozen=True)
class Pair:
    """A (model, dataset) pair that a category asks for, with the category whose settings apply to it."""

    model: str
    dataset: str
    category: str  # the settings owner: first category (file order) listing the dataset, primary before optional
    optional: bool  # the dataset is optional in the owner category


@dataclass(frozen=True)
class Registry:
    root: Path
    models: dict[str, ModelEntry]
    categories: dict[str, CategoryEntry]
    datasets: dict[str, DatasetEntry]
    presets: dict[str, PresetEntry]
    profiles: dict[str, ProfileEntry]
    hardware: HardwareEntry
    model_aliases: dict[str, str]
    dataset_aliases: dict[str, str]
    warnings: tuple[str, ...]
    digest: str  # sha256 over the registry files: changes whenever any of them does
    automation: AutomationEntry = dataclass_field(default_factory=AutomationEntry)  # automation.yaml

    # --- names -------------------------------------------------------------------------------------------------
    def resolve_model(self, name: str) -> str:
        return _resolve(name, self.models, self.model_aliases, "model", "models", UnknownModelError)

    def resolve_dataset(self, name: str) -> str:
        return _resolve(name, self.datasets, self.dataset_aliases, "dataset", "datasets")

    def resolve_category(self, name: str) -> str:
        return _resolve(name, self.categories, {}, "category", "categories")

    def resolve_profile(self, name: str) -> str:
        return _resolve(name, self.profiles, {}, "profile", "profiles")

    def resolve_preset(self, name: str | None, model_key: str | None = None) -> str:
        chosen = name or (self.models[model_key].preset if model_key else "balanced")
        if chosen not in self.presets:
            raise UnknownNameError(f"unknown preset {chosen!r}{did_you_mean(chosen, self.presets)}; known: "
                                   f"{', '.join(self.presets)}")
        return chosen

    # --- membership --------------------------------------------------------------------------------------------
    def categories_of(self, model_key: str) -> list[str]:
        return [name for name, c in self.categories.items() if model_key in c.models]

    def removed_from(self, model_key: str) -> dict[str, str]:
        return {name: c.removed_models[model_key] for name, c in self.categories.items()
                if model_key in c.removed_models}

    def pairs(self, include_optional: bool = True) -> list[Pair]:
        """Every (model, dataset) pair some category asks for, each once, with its settings owner."""
        owners: dict[tuple[str, str], Pair] = {}
        for optional, field in ((False, "primary_datasets"), (True, "optional_datasets")):
            if optional and not include_optional:
                break
            for cat_name, cat in self.categories.items():
                for ref in getattr(cat, field):
                    dataset = self.resolve_dataset(ref)
                    for model in cat.models:
                        owners.setdefault((model, dataset), Pair(model, dataset, cat_name, optional))
        return sorted(owners.values(), key=lambda p: (p.model, p.dataset))

    @cached_property
    def pairs_by_key(self) -> dict[tuple[str, str], Pair]:
        """Every pair of `pairs()` (optional ones included) by (model, dataset), built once."""
        return {(p.model, p.dataset): p for p in self.pairs(include_optional=True)}

    def settings_for(self, pair: Pair) -> GenerationSettings:
        return self.categories[pair.category].settings

    def requested_samples(self, pair: Pair, samples: int | None = None) -> int:
        """--samples, else the owning category's sample_limit, else the whole dataset; never more than it has."""
        ds = self.datasets[pair.dataset]
        limit = samples or self.settings_for(pair).sample_limit or ds.n_items or 0
        return min(limit, ds.n_items) if ds.n_items else limit

    # --- engine ------------------------------------------------------------------------------------------------
    def engine_settings(self, model_key: str, preset: str | None = None) -> EngineSettings:
        key = self.resolve_model(model_key)
        preset_name = self.resolve_preset(preset, key)
        return engine_settings(key, self.models[key], preset_name, self.presets[preset_name])


ADHOC_SOURCE = "--model/--model-args"  # where an ad-hoc model's entry comes from, as problems name it


def _locate_adhoc(problems: list[Problem], adhoc_keys: set[str]) -> list[Problem]:
    """Problems of ad-hoc models name the options they come from, not models.yaml."""
    return [replace(p, file=ADHOC_SOURCE) if p.key in adhoc_keys and p.file == REGISTRY_FILES["models"] else p
            for p in problems]


def adhoc_path() -> Path:
    """Models evaluated with --model hf:... or ./path (registry/adhoc.py), kept beside the results."""
    return llmeval_home() / ADHOC_FILE


def load_registry(registry_dir: Path | str | None = None, adhoc: Path | None = None) -> Registry:
    """The registry of `registry_dir` (default: ./registry or $LLMEVAL_REGISTRY) with the ad-hoc models recorded in
    `adhoc` (default: adhoc_path()), all validated together."""
    root = Path(registry_dir) if registry_dir is not None else default_registry_dir()
    problems: list[Problem] = []
    if not root.is_dir():
        raise RegistryError(root, [Problem(str(root), "", "", "registry directory not found")])
    raw = {section: read_section(root, section, problems) for section in REGISTRY_FILES}
    overlay = read_adhoc(adhoc or adhoc_path())
    adhoc_keys = set(overlay.get("models") or {}) - set(raw["models"])
    for key, entry in (overlay.get("models") or {}).items():
        if key in raw["models"]:
            continue  # the registry's own entry wins; an ad-hoc key never shadows it
        raw["models"][key] = entry
    for key, categories in (overlay.get("memberships") or {}).items():
        for category in categories or ():
            cat = raw["categories"].get(category)
            if isinstance(cat, dict) and key not in cat.get("models", []):
                cat["models"] = [*cat.get("models", []), key]
    models = parse_entries(REGISTRY_FILES["models"], raw["models"], ModelEntry, problems)
    categories = parse_entries(REGISTRY_FILES["categories"], raw["categories"], CategoryEntry, problems)
    datasets = parse_entries(REGISTRY_FILES["datasets"], raw["datasets"], DatasetEntry, problems)
    presets = parse_entries(REGISTRY_FILES["presets"], raw["presets"], PresetEntry, problems)
    profiles = parse_entries(REGISTRY_FILES["profiles"], raw["profiles"], ProfileEntry, problems)
    hardware = parse_single(REGISTRY_FILES["hardware"], raw["hardware"], HardwareEntry, problems) \
        if raw["hardware"] else None
    automation = _read_automation(root, problems)
    if hardware is not None and hardware.default_gpu not in hardware.gpus:
        problems.append(Problem(REGISTRY_FILES["hardware"], "", "default_gpu",
                                f"{hardware.default_gpu!r} is not one of gpus ({', '.join(hardware.gpus)})"))
        hardware = None
    if hardware is None and not problems:
        problems.append(Problem(REGISTRY_FILES["hardware"], "", "", "the file declares no hardware"))
    if problems:  # cross-entry rules need every entry parsed; reporting them now would only cascade
        raise RegistryError(root, _locate_adhoc(problems, adhoc_keys))

    model_aliases = build_aliases(models, REGISTRY_FILES["models"], problems)
    dataset_aliases = build_aliases(datasets, REGISTRY_FILES["datasets"], problems)
    check_models(models, presets, hardware, problems)
    check_datasets(datasets, problems)
    check_categories(categories, models, model_aliases, datasets, dataset_aliases, problems)
    check_profiles(profiles, categories, datasets, problems)
    if problems:
        raise RegistryError(root, _locate_adhoc(problems, adhoc_keys))

    digest = hashlib.sha256()
    for filename in [*REGISTRY_FILES.values(), AUTOMATION_FILE]:
        if (root / filename).is_file():  # automation.yaml is optional
            digest.update(filename.encode() + b"\0" + (root / filename).read_bytes())
    assert hardware is not None  # a missing or invalid hardware file is a problem raised above
    return Registry(
        root=root, models=models, categories=categories, datasets=datasets, presets=presets, profiles=profiles,
        hardware=hardware,
        model_aliases=model_aliases, dataset_aliases=dataset_aliases,
        warnings=tuple(uncategorized_warnings(categories, models)), digest=digest.hexdigest(),
        automation=automation or AutomationEntry(),
    )


AUTOMATION_FILE = "automation.yaml"


def _read_automation(root: Path, problems: list[Problem]) -> AutomationEntry | None:
    """registry/automation.yaml when it exists; without it automatic runs use each category's sample_limit."""
    if not (root / AUTOMATION_FILE).is_file():
        return AutomationEntry()
    raw = read_section(root, "automation", problems, filename=AUTOMATION_FILE)
    return parse_single(AUTOMATION_FILE, raw, AutomationEntry, problems) if raw else AutomationEntry()
