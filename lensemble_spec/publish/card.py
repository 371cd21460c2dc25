"""The model card (``README.md``) and ``config.json`` of a published comparison.

The card is what the Hub shows and what its tools parse: YAML front matter written by
huggingface_hub's own :class:`~huggingface_hub.ModelCardData` (``license``, ``library_name``,
``tags``, ``datasets`` when Hub dataset ids are known, and ``model-index`` with one result per
control and one metric per final value of the ResultsTable row), then a body saying what the
repository holds, the table, the compliance verdict (when a compliance JSON is given, else how to
obtain one) and how to reproduce the numbers. Every number comes from the comparison's own
``results.json``; nothing is measured here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Final metrics shown in the card's table, in this order (when a row has them).
TABLE_METRICS: tuple[tuple[str, str], ...] = (
    ("effective_rank", "eff. rank"),
    ("latent_std_mean", "latent std"),
    ("val_pred", "val_pred"),
    ("val_pred_identity", "identity"),
    ("drift_to_reference_deg", "drift→ref °"),
    ("drift_pairwise_mean_deg", "pairwise °"),
    ("state_probe_r2", "probe R²"),
)
TASK_TYPE = "latent-world-model"
#: One model-index result for the whole table: the Hub groups results by task and dataset, so the
#: control is carried by each metric's name, ``"<metric> (<control>)"``.
TASK_NAME = "held-out evaluation of the RFC-0005 controls"
TAGS = ("lensemble-spec", "jepa", "world-model", "federated-learning", "safetensors")


@dataclass(frozen=True)
class ControlFiles:
    """What the repository holds for one control (in-repository paths)."""

    control: str
    checkpoints: tuple[str, ...]  # checkpoint folders
    files: tuple[str, ...]  # every pinned file
    content_hashes: tuple[str, ...]
    round_index: int


def public_root(root: str) -> str:
    """A data root as the card shows it: a local path is cut to its last component (it would leak
    the publisher's file system and means nothing elsewhere); the query (fingerprint) is kept."""
    if root.startswith("synthetic:"):
        return root
    head, sep, query = root.partition("?")
    scheme, colon, path = head.partition(":")
    name = path.rstrip("/").rsplit("/", 1)[-1] if colon else head.rstrip("/").rsplit("/", 1)[-1]
    return f"{scheme}:{name}{sep}{query}" if colon else f"{name}{sep}{query}"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def card_metadata(
    *,
    repo_id: str,
    table: Any,
    data_name: str,
    license: str,
    datasets: Sequence[str],
) -> Any:
    """huggingface_hub ``ModelCardData`` with the ``model-index`` results of ``table``.

    One metric per final value of each row (per-silo values, named ``key/siloN``, stay in
    results.json): ``type`` is the metric key, ``name`` is ``"<key> (<control>)"``.
    """
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for row in table.controls:
        for key in sorted(row.metrics):
            value = row.metrics[key]
            if value is None or "/" in key:  # per-silo values stay in results.json
                continue
            results.append(
                EvalResult(
                    task_type=TASK_TYPE,
                    task_name=TASK_NAME,
                    dataset_type=data_name,
                    dataset_name=data_name,
                    dataset_split="heldout",
                    metric_type=key,
                    metric_name=f"{key} ({row.control})",
                    metric_value=float(value),
                )
            )
    return ModelCardData(
        license=license,
        library_name="lensemble-spec",
        tags=list(TAGS),
        datasets=list(datasets) or None,
        model_name=repo_id,
        eval_results=results or None,
    )


def compliance_section(compliance: Any | None, *, comparison_hint: str) -> str:
    """The card's "Compliance" section from a ComplianceReport, or how to obtain one."""
    if compliance is None:
        return (
            "Not checked yet. Check it offline against the conformance suite:\n\n"
            "```\n"
            f"pytest conformance/ --impl reference_impl --run {comparison_hint} --hub-cache HUB_CACHE\n"
            "lensemble-spec report --require conformant\n"
            "```\n\n"
            "then publish again with `--compliance .lensemble-spec/results.json` to record the verdict here.\n"
        )
    v = compliance.verdicts
    impl = compliance.run_info.impl
    who = f"{impl.name} {impl.version}" if impl.name else "artifact-only run"
    must = v.must
    return (
        f"**Verdict: {v.overall}** (lensemble-spec {compliance.run_info.lensemble_spec_version}, "
        f"implementation {who}, level {compliance.run_info.level}, finished {compliance.run_info.finished_at}).\n\n"
        f"MUST requirements: {must.total} — {must.passed} passed, {must.failed} failed, "
        f"{must.not_implemented} not implemented, {must.precondition_not_met} harness precondition not met, "
        f"{must.skipped} skipped, {must.not_applicable} not applicable, {must.not_tested} not tested. "
        f"Tests: {compliance.counts.passed} passed, {compliance.counts.failed} failed, "
        f"{compliance.counts.skipped} skipped of {compliance.counts.collected} collected.\n"
    )


def render_card(
    *,
    repo_id: str,
    table: Any,
    controls: Sequence[ControlFiles],
    metadata: Any,
    data_roots: Sequence[str],
    compliance: Any | None,
    reproduce: str | None,
) -> str:
    """The whole ``README.md``: front matter + body (see the module docstring)."""
    header = "| control | " + " | ".join(label for _, label in TABLE_METRICS) + " | verdict |"
    rule = "|---|" + "---:|" * len(TABLE_METRICS) + "---|"
    rows = [
        f"| {r.control} | " + " | ".join(_fmt(r.metrics.get(k)) for k, _ in TABLE_METRICS) + f" | {r.verdict} |"
        for r in table.controls
    ]
    files = "\n".join(
        f"- `{c.control}/`: final round {c.round_index}: "
        + ", ".join(f"`{p}`" for p in c.checkpoints)
        + " (content hash "
        + ", ".join(f"`{h[:12]}…`" for h in c.content_hashes)
        + ")"
        for c in controls
    )
    roots = ", ".join(f"`{r}`" for r in data_roots) or "not recorded"
    parts = [
        f"---\n{metadata.to_yaml()}\n---\n",
        f"# {repo_id}\n",
        f"{table.title}. Federated JEPA world models (encoder + action-conditioned predictor) trained by "
        f"the controls of RFC-0005, published by `lensemble-spec publish`. Data: {roots}. "
        f"Split: {table.split}. Seeds: {', '.join(map(str, table.seeds))}.\n",
        "## Results (held-out split)\n",
        "\n".join([header, rule, *rows]) + "\n",
        "Every value is the comparison's `results.json` (a ResultsTable, RFC-0005); per-silo values and "
        "per-round series are there too. `model-index` above carries the same final values.\n",
        "## Files\n",
        files + "\n",
        "Each checkpoint folder is an RFC-0010 checkpoint (`header.json` + safetensors weights; the "
        "weights' `__metadata__` names the control, round, content and config hash). `config.json` "
        "holds each control's training configuration. Download with `--local-dir` (real files, not "
        "cache symlinks) and load a folder with `lensemble_spec.artifacts.checkpoint.load_checkpoint`, which "
        "re-checks the content hash.\n",
        "## Compliance\n",
        compliance_section(compliance, comparison_hint="COMPARISON_DIR"),
    ]
    if reproduce:
        parts += ["## How to reproduce\n", reproduce]
    return "\n".join(parts)


def reproduce_section(
    *, repo_id: str, controls: Sequence[ControlFiles], synthetic: bool, version: str, controls_flag: str = ""
) -> str:
    """Commands that rebuild the comparison from ``train_config.json`` and how to compare."""
    hashes = "\n".join(f"- {c.control}: " + ", ".join(f"`{h}`" for h in c.content_hashes) for c in controls)
    data = (
        ""
        if synthetic
        else (
            "The data were local LeRobot roots (`config.json` names them with their metadata fingerprints): "
            "add the same `--lerobot-root` flags.\n\n"
        )
    )
    return (
        "Always name the full 40-hex commit id of this repository (`REVISION`; every pin in the "
        "comparison's `results.json` carries it): a branch name moves.\n\n"
        "```\n"
        f"pip install lensemble-spec=={version}\n"
        f"huggingface-cli download {repo_id} train_config.json --revision REVISION --local-dir .\n"
        f"lensemble-spec headline --out runs/repro --config train_config.json{controls_flag}\n"
        "lensemble-spec verify runs/repro --impl lensemble_reference\n"
        "```\n\n"
        f"{data}"
        "Training is bitwise deterministic for a fixed config and thread count, so the final "
        "checkpoints' content hashes (`header.json`) should equal these:\n\n"
        f"{hashes}\n"
    )


def config_document(
    *, repo_id: str, table: Any, manifests: Mapping[str, Any], controls: Sequence[ControlFiles], version: str
) -> dict[str, Any]:
    """``config.json``: the model shape shared by the controls and each control's full config."""

    doc: dict[str, Any] = {
        "model_type": "lensemble-jepa",
        "library_name": "lensemble-spec",
        "lensemble_spec_version": version,
        "repo_id": repo_id,
        "title": table.title,
        "seeds": list(table.seeds),
        "split": table.split,
    }
    models = [m.config.get("model") for m in manifests.values()]
    if models and all(isinstance(m, dict) and m == models[0] for m in models):
        doc.update({k: v for k, v in models[0].items() if k not in doc})
    doc["controls"] = {
        c.control: {
            "run_id": manifests[c.control].run_id,
            "config_hash": manifests[c.control].config_hash,
            "probe_hash": manifests[c.control].probe_hash,
            "data_roots": [public_root(r) for r in manifests[c.control].data_roots],
            "round_index": c.round_index,
            "checkpoints": list(c.checkpoints),
            "content_hashes": list(c.content_hashes),
            "config": manifests[c.control].config,
        }
        for c in controls
    }
    return doc
