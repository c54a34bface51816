"""An EAS setting as the flat fields a results file, the search grid and the command line use.

The core's `EASConfig` is a layer and a keep rule (rules.py). Results files name a setting by
the flat fields the project wrote before the rules became classes (layer, sparsity, budget,
padding, aggregate, scorer, ...), so every committed file still reads, labels and resumes.
`config_from_fields` builds the rule those fields describe; `fields_of` writes them back.
"""

from ..rules import (
    RandomKeep,
    Scoring,
    SpeechBudget,
    SpeechPrune,
    TopK,
    Truncate,
    VADBudget,
)
from ..sparsify import EASConfig

BUDGETS = ("window", "speech")
AGGREGATES = ("mean", "max", "min", "geometric_mean", "random")
FIELDS = dict(
    sparsity=0.0, aggregate="mean", scorer="exact", cross_layer=False, budget="window",
    speech_sparsity=0.0, padding_tokens=300, padding_choice="attention", chunk_size=128,
    query_stride=4, seed=0,
)  # fmt: skip
VAD_FIELDS = dict(vad=False, vad_margin_ms=500, vad_min_pause_ms=1000)
# Truncation's own: written only when set, so files from before it still name their settings
TRUNCATE_FIELDS = dict(min_dropped=0)


def config_from_fields(layer: int, **given) -> EASConfig:
    """The EASConfig the flat fields describe; unknown fields and values are refused by name."""
    unknown = set(given) - set(FIELDS) - set(VAD_FIELDS) - set(TRUNCATE_FIELDS) - {"rule"}
    if unknown:
        raise ValueError(f"unknown EAS setting {', '.join(sorted(unknown))}")
    f = {**FIELDS, **VAD_FIELDS, **TRUNCATE_FIELDS}
    f.update({k: v for k, v in given.items() if v is not None})
    if f.get("rule"):
        return EASConfig(layer, f["rule"])
    if f["budget"] not in BUDGETS:
        raise ValueError(f"unknown EAS budget {f['budget']!r}; choose one of {BUDGETS}")
    if f["aggregate"] not in AGGREGATES:
        raise ValueError(f"unknown EAS aggregate {f['aggregate']!r}; choose one of {AGGREGATES}")
    if f["vad"] and f["budget"] != "speech":
        raise ValueError("EAS vad=True needs budget='speech' (it decides what is speech)")
    scoring = Scoring(
        scorer=f["scorer"],
        aggregate="mean" if f["aggregate"] == "random" else f["aggregate"],
        cross_layer=f["cross_layer"],
        chunk_size=f["chunk_size"],
        query_stride=f["query_stride"],
    )
    speech = dict(
        speech_sparsity=f["speech_sparsity"],
        padding_tokens=f["padding_tokens"],
        padding=f["padding_choice"],
        ranking=scoring,
    )
    if f["budget"] == "window":
        only_binarized = scoring == Scoring(scorer="binarized")
        rule = SpeechPrune(f["sparsity"]) if only_binarized else TopK(f["sparsity"], scoring)
    elif f["vad"]:
        rule = VADBudget(**speech, margin_ms=f["vad_margin_ms"], min_pause_ms=f["vad_min_pause_ms"])
    elif f["padding_choice"] == "first" and f["speech_sparsity"] == 0:
        rule = Truncate(f["padding_tokens"], f["min_dropped"])
    else:
        rule = SpeechBudget(**speech)
    if f["aggregate"] == "random":
        rule = RandomKeep(rule, seed=f["seed"])
    return EASConfig(layer, rule)


def fields_of(eas: EASConfig) -> dict:
    """The flat fields of a setting: VAD fields only when the VAD decides, `rule` only for a
    rule of one's own (its import path, or its repr when given as an object)."""
    fields = {"layer": eas.layer, **FIELDS}
    rule = eas.keep_rule
    if isinstance(rule, RandomKeep):
        fields.update(aggregate="random", seed=rule.seed)
        rule = rule.budget
    scoring = None
    if isinstance(rule, TopK):
        fields["sparsity"], scoring = rule.sparsity, rule.scoring
    elif isinstance(rule, Truncate):
        fields.update(budget="speech", padding_tokens=rule.padding_tokens, padding_choice="first")
        if rule.min_dropped:
            fields["min_dropped"] = rule.min_dropped
    elif isinstance(rule, SpeechBudget):
        scoring = rule.ranking
        fields.update(
            budget="speech",
            speech_sparsity=rule.speech_sparsity,
            padding_tokens=rule.padding_tokens,
            padding_choice=rule.padding,
        )
        if isinstance(rule, VADBudget):
            fields.update(
                vad=True, vad_margin_ms=rule.margin_ms, vad_min_pause_ms=rule.min_pause_ms
            )
    else:
        fields["rule"] = eas.rule if isinstance(eas.rule, str) else repr(eas.rule)
    if scoring is not None:
        fields.update(
            scorer=scoring.scorer,
            cross_layer=scoring.cross_layer,
            chunk_size=scoring.chunk_size,
            query_stride=scoring.query_stride,
        )
        if fields["aggregate"] != "random":
            fields["aggregate"] = scoring.aggregate
    return fields


def config_from_record(eas: dict | None) -> EASConfig | None:
    """A results file's `eas` entry (None for the baseline) as an EASConfig."""
    if eas is None:
        return None
    fields = {k: v for k, v in eas.items() if k != "layer"}
    return config_from_fields(eas["layer"], **fields)
