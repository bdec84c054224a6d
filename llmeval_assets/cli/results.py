"""Result commands: samples (every sample of one result) and compare (two models on the items both have), read
from the results DuckDB (llmeval_assets.results)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmeval_assets.cli.registry import (
    ChatTemplateOption,
    DtypeOption,
    FewshotFromOption,
    GenKwargsOption,
    ItemsOption,
    JsonOption,
    LimitOption,
    NumFewshotOption,
    RegistryOption,
    SeedOption,
    SystemInstructionOption,
    VariantOption,
    console,
    emit_json,
    err_console,
    fail,
    load_or_exit,
    profile_choice_or_exit,
)
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Registry

if TYPE_CHECKING:
    from llmeval_assets.results import Which

StoredProfileOption = typer.Option(
    None, "--profile", help="The profile the result was evaluated under: a registry profile, or the NAME~DIGEST "
                            "that `llmeval plan` and `llmeval report` show for a run with overrides (default: the "
                            "category's own)")


class NoResult(LookupError):
    """No stored result answers the question (exit 1, not a usage error)."""


def no_result(message: str) -> None:
    err_console.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(1)


def model_key(reg: Registry, name: str) -> str:
    """A registry key, alias, or the --model hf:ORG/NAME / ./checkpoint reference a model was evaluated by."""
    from llmeval_assets.registry.adhoc import adhoc_key, is_adhoc_reference

    return reg.resolve_model(adhoc_key(name) if is_adhoc_reference(name) else name)


def wanted_profile(reg: Registry, model: str, dataset: str, profile: str | None, choice: ProfileChoice) -> str:
    """The profile id results of (model, dataset) are stored under for this choice (see profiles.ProfileChoice)."""
    from llmeval_assets.evaluation import resolve_evaluation

    if profile and "~" in profile:  # a derived profile's id, as plan and report show it
        if choice.overrides:
            raise ValueError(f"--profile {profile} already names a run with overrides; drop the override options "
                             "or give the profile's plain name")
        reg.resolve_profile(profile.split("~", 1)[0])
        return profile
    return resolve_evaluation(reg, model, dataset, ProfileChoice(profile, choice.overrides)).profile


def _stored_elsewhere(stored: list[dict[str, Any]]) -> str:
    if not stored:
        return "none is stored under any profile"
    return "stored under: " + "; ".join(f"{r['profile']} ({r['profile_label']})" if r["profile_label"] != r["profile"]
                                       else r["profile"] for r in stored)


def find_result(con: Any, reg: Registry, model: str, dataset: str, profile: str | None,
                choice: ProfileChoice) -> dict[str, Any]:
    """The stored result of (model, dataset) under the chosen profile; NoResult says which profiles have one."""
    from llmeval_assets.results import stored_results

    wanted = wanted_profile(reg, model, dataset, profile, choice)
    found = stored_results(con, model, dataset, wanted)
    if not found:
        raise NoResult(f"no result of {model} on {dataset} under profile {wanted}; "
                       f"{_stored_elsewhere(stored_results(con, model, dataset))}")
    return found[0]


def open_results():
    """A read-only connection to the results DuckDB (exit 1 when there is none yet)."""
    from llmeval_assets.paths import results_db_path
    from llmeval_assets.reporting import LeaderboardUnavailable, connect_read_only

    try:
        return connect_read_only(results_db_path())
    except LeaderboardUnavailable as exc:
        no_result(str(exc))


def _setting(result: dict[str, Any]) -> str:
    shots = result["num_fewshot"]
    return f"{result['variant']} ({shots}-shot{', chat' if result['chat_template'] else ''})"


def print_samples(result: dict[str, Any], records: list[dict[str, Any]], total: int, which: str) -> None:
    from llmeval_assets.results import render_requests

    def say(text: str = "") -> None:
        console.print(text, highlight=False, markup=False)

    fixture = " · FIXTURE DATA (hand-built, not the benchmark)" if result.get("fixture") else ""
    say(f"{result['model']} / {result['dataset']} · profile {result['profile_label'] or result['profile']} · "
        f"variant {_setting(result)} · primary metric {result['primary_metric']}{fixture}")
    say(f"reproduces: {result['reference']}")
    shown = {"all": "all", "wrong": "the wrong ones", "right": "the right ones"}[which]
    say(f"{len(records)} of {total} samples shown ({shown}; right = full marks on {result['primary_metric']})")
    for record in records:
        scores = ", ".join(f"{metric} {value:g}" for metric, value in record["scores"].items())
        say()
        say(f"━━ {record['item_id']}" + (f" ({record['group']})" if record["group"] else "")
            + f" · {'RIGHT' if record['correct'] else 'WRONG'} · {scores}")
        say("prompt:")
        say(_indent(render_requests(record["requests"]) or "(no stored request)"))
        if record["outputs"]:
            say("output:")
            for index, output in enumerate(record["outputs"]):
                prefix = f"[{index + 1}] " if len(record["outputs"]) > 1 else ""
                say(_indent(prefix + output))
        elif record.get("logprobs"):
            say("log-likelihoods: " + ", ".join(f"{v:.3f}" for v in record["logprobs"]))
        answers = record["answers"]
        if len(set(answers.values())) == 1:
            say(f"answer: {next(iter(answers.values()))}")
        else:
            say("answer: " + "; ".join(f"{metric}: {answer}" for metric, answer in answers.items()))
        say(f"gold: {record['target']}")
        if record["unanswered"]:
            say("unanswered: yes (e.g. cut off while thinking)")
        if record.get("error"):
            say(f"error: {record['error']}")
        if record["explanation"]:
            say("explanation:")
            say(_indent(record["explanation"]))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines() or [""])


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    @app.command()
    def samples(model: str = typer.Option(..., "--model", "-m", help="Registry model, or the hf:ORG/NAME or "
                                                                      "./checkpoint it was evaluated as"),
                dataset: str = typer.Option(..., "--dataset", "-d"),
                wrong: bool = typer.Option(False, "--wrong", help="Only samples without full marks on the "
                                                                  "primary metric"),
                right: bool = typer.Option(False, "--right", help="Only samples with full marks"),
                item: str | None = typer.Option(None, "--item", help="One item id"),
                profile: str | None = StoredProfileOption, variant: str | None = VariantOption,
                num_fewshot: int | None = NumFewshotOption, chat_template: bool | None = ChatTemplateOption,
                system_instruction: str | None = SystemInstructionOption,
                gen_kwargs: str | None = GenKwargsOption, dtype: str | None = DtypeOption,
                limit: int | None = LimitOption, items: Path | None = ItemsOption,
                fewshot_from: Path | None = FewshotFromOption, seed: int | None = SeedOption,
                registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """Every sample of one result: the prompt as sent, the output, the extracted answer of each metric, the
        gold, the score and why. The profile and override options select the result of the run they were given
        to, as `llmeval evaluate` took them."""
        from llmeval_assets.evaluation import EvaluationError
        from llmeval_assets.registry import UnknownNameError
        from llmeval_assets.results import sample_records

        if wrong and right:
            fail("--wrong and --right exclude each other: give one of them (or neither for every sample)")
        which: Which = "wrong" if wrong else "right" if right else "all"
        choice = profile_choice_or_exit(None, variant, num_fewshot, chat_template, system_instruction, gen_kwargs,
                                        dtype, limit, items, fewshot_from, seed)
        reg = load_or_exit(registry)
        try:
            key, dataset_key = model_key(reg, model), reg.resolve_dataset(dataset)
            con = open_results()
            with con:
                result = find_result(con, reg, key, dataset_key, profile, choice)
                every = sample_records(con, result)
                records = sample_records(con, result, which, item)
        except (UnknownNameError, EvaluationError, ValueError) as exc:
            return fail(str(exc))
        except NoResult as exc:
            return no_result(str(exc))
        if item is not None and not records:
            known = any(r["item_id"] == item for r in every)
            return no_result(f"item {item!r} " + (f"is not {which} in" if known else "is not an item of")
                             + f" the result of {key} on {dataset_key} ({result['profile']})")
        if as_json:
            return emit_json({"result": result, "samples": records})
        print_samples(result, records, len(every), which)
        return None

    @app.command()
    def compare(model_a: str = typer.Argument(..., metavar="A", help="Registry model (or hf:/./path reference)"),
                model_b: str = typer.Argument(..., metavar="B"),
                dataset: str | None = typer.Option(None, "--dataset", "-d", help="One dataset (default: every "
                                                                                  "dataset both have results on)"),
                profile: str | None = StoredProfileOption,
                registry: Path | None = RegistryOption, as_json: bool = JsonOption) -> None:
        """A minus B on each dataset's primary metric, on the items both were scored on: the paired difference,
        its 95% interval and p-value, and how many items only A / only B got right. Results of different profiles
        or variants are never compared."""
        from llmeval_assets.registry import UnknownNameError

        reg = load_or_exit(registry)
        try:
            a, b = model_key(reg, model_a), model_key(reg, model_b)
            datasets = [reg.resolve_dataset(dataset)] if dataset else None
            if profile and "~" not in profile:
                reg.resolve_profile(profile)
        except UnknownNameError as exc:
            return fail(str(exc))
        if a == b:
            return fail(f"A and B are the same model ({a}): compare two different models")
        con = open_results()
        with con:
            comparisons, notes, refused = compare_models(con, reg, a, b, datasets, profile)
        if as_json:
            emit_json({"model_a": a, "model_b": b, "comparisons": [c.as_dict() for c in comparisons],
                       "not_compared": notes})
        else:
            print_comparisons(a, b, comparisons, notes)
        if refused and not comparisons:
            raise typer.Exit(2)
        if not comparisons:
            raise typer.Exit(1)


def compare_models(con: Any, reg: Registry, a: str, b: str, datasets: list[str] | None,
                   profile: str | None) -> tuple[list[Any], list[dict[str, str]], bool]:
    """(comparisons, datasets not compared with the reason, whether a reason is a refusal to mix settings)."""
    from llmeval_assets.evaluation import EvaluationError
    from llmeval_assets.registry import UnknownNameError
    from llmeval_assets.results import NotComparable, SettingsDiffer, compare_results, stored_results

    if datasets is None:
        datasets = sorted({r["dataset"] for m in (a, b) for r in stored_results(con, m)})
    comparisons, notes, refused = [], [], False
    for dataset in datasets:
        try:
            profiles = {m: wanted_profile(reg, m, dataset, profile, ProfileChoice()) for m in (a, b)}
            if profiles[a] != profiles[b]:
                raise SettingsDiffer(f"{a} and {b} are evaluated under different profiles on {dataset} "
                                    f"({profiles[a]} vs {profiles[b]}): give one with --profile")
            results = [find_result(con, reg, m, dataset, profiles[m], ProfileChoice()) for m in (a, b)]
            comparisons.append(compare_results(con, *results))
        except NotComparable as exc:
            refused = refused or isinstance(exc, SettingsDiffer)
            notes.append({"dataset": dataset, "reason": str(exc)})
        except (NoResult, EvaluationError, UnknownNameError, ValueError) as exc:
            notes.append({"dataset": dataset, "reason": str(exc)})
    return comparisons, notes, refused


def print_comparisons(a: str, b: str, comparisons: list[Any], notes: list[dict[str, str]]) -> None:
    """One block per dataset (readable in a log whatever its width)."""
    def say(text: str, error: bool = False) -> None:
        (err_console if error else console).print(text, highlight=False, markup=False)

    if comparisons:
        say(f"A = {a}, B = {b}: A minus B on the primary metric, paired on the items both were scored on")
    for c in comparisons:
        interval = f" [95% CI {c.ci_low:+.3f}, {c.ci_high:+.3f}]" if c.ci_low is not None else " (no interval)"
        clustered = f", stderr clustered by {c.n_clusters} item groups" if c.n_clusters else ""
        left_out = (f" ({c.only_in_a} items only A has and {c.only_in_b} only B has are left out)"
                    if c.only_in_a or c.only_in_b else "")
        say("")
        say(f"{c.dataset} · profile {c.profile_label} · variant {c.variant} · {c.metric}")
        say(f"  {c.n} shared items{left_out}")
        say(f"  A {c.mean_a:.3f}   B {c.mean_b:.3f}   A - B {c.difference:+.3f}{interval}   "
            f"p = {_number(c.p_value)}{clustered}")
        say(f"  full marks only from A: {c.a_right_only}   only from B: {c.b_right_only}   both: {c.both_right}   "
            f"neither: {c.neither_right}")
    for note in notes:
        say(f"{'not compared' if comparisons else 'error'}: {note['dataset']}: {note['reason']}",
            error=not comparisons)
