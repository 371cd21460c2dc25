"""``lensemble-spec publish``: a comparison as a Hugging Face model repository, pinned.

    lensemble-spec publish DIR --repo-id ORG/NAME [--hub-cache CACHE] [--compliance RESULTS.json]
                           [--license ID] [--dataset ORG/NAME ...] [--push [--token T] [--private]]

Writes the model card (``README.md``), ``config.json``, ``train_config.json`` and the final
checkpoints (safetensors with ``__metadata__``) of every control as one commit, into the local
Hugging Face cache (default: huggingface_hub's own, ``HF_HUB_CACHE``), offline unless ``--push``;
then writes full-revision pins with each file's sha256 into ``DIR/results.json``. Prints the
revision, one ``hf_hub_download`` line to fetch a file, and the conformance command that checks
the pins. See :mod:`lensemble_spec.publish.comparison`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def default_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "publish",
        help="publish a comparison as a Hugging Face model repository and pin it in results.json",
        description="Write a model card, config.json and the final checkpoints of a comparison "
        "directory as one commit into the local Hugging Face cache (or upload them with --push), "
        "then write full-revision pins with per-file sha256 into DIR/results.json.",
    )
    p.add_argument(
        "directory", type=Path, metavar="DIR", help="comparison directory (lensemble-spec headline --out DIR)"
    )
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="Hub repository id")
    p.add_argument("--hub-cache", type=Path, default=None, metavar="CACHE",
                   help="Hugging Face cache to commit into (default: HF_HUB_CACHE, ~/.cache/huggingface/hub)")
    p.add_argument("--compliance", type=Path, default=None, metavar="RESULTS.json",
                   help="compliance JSON of a conformance run on DIR, whose verdict the card states")
    p.add_argument("--license", default="apache-2.0", help="license id for the card (default apache-2.0)")
    p.add_argument("--dataset", action="append", default=[], metavar="ORG/NAME",
                   help="Hub dataset id the models were trained on (repeatable; card metadata)")
    p.add_argument("--push", action="store_true", help="upload with huggingface_hub (needs a write token)")
    p.add_argument("--token", default=None, help="Hub token for --push (default: HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="with --push: create the repository private")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..publish import publish_comparison

    cache = args.hub_cache or default_cache()
    token = args.token or os.environ.get("HF_TOKEN") if args.push else None
    done = publish_comparison(
        args.directory, args.repo_id, hub_cache=cache, license=args.license, datasets=args.dataset,
        compliance=args.compliance, push=args.push, token=token, private=args.private,
    )
    n = sum(len(p) for p in done.pins.values())
    where = "uploaded to the Hub and cached" if done.pushed else "committed to the local cache"
    print(f"{done.repo_id}@{done.revision}: {len(done.files)} files {where} in {cache}")
    print(f"wrote {n} pins into {args.directory / 'results.json'}")
    print(f"fetch: hf_hub_download({done.repo_id!r}, 'README.md', revision={done.revision!r}, local_files_only=True)")
    print(f"check: pytest conformance/ --impl reference_impl --run {args.directory} --hub-cache {cache}")
    return 0
