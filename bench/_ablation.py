"""The command line every ablation bench shares (bayes_ablation, mahdi_ablation)."""

from __future__ import annotations

import argparse


def ablation_arguments(
    doc: str, presets: str, variants: dict, argv: list[str] | None
) -> tuple[argparse.Namespace, list[str]]:
    """``--presets --n --seeds --variants --json`` parsed; the chosen variants, checked against ``variants``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=presets)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--variants", default=",".join(variants), help="comma-separated rows (default: all)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    chosen = args.variants.split(",")
    unknown = sorted(set(chosen) - set(variants))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose among {list(variants)}")
    return args, chosen
