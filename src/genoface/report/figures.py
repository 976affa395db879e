"""The reports' plots (matplotlib): CMC, missing-SNP and training curves of an evaluation, and the
audit's select-among-N curves. Each returns a Figure (or None when there is nothing to plot)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from genoface.evaluate import cmc

_STYLES = {"dna + face": "-", "dna": "--", "demographics + face": "-", "demographics": "--"}
_COLOURS = {"dna + face": "C0", "dna": "C0", "demographics + face": "C1", "demographics": "C1"}


def cmc_figure(results: list[dict]) -> Figure:
    """Cumulative match characteristic of every model at full SNP coverage, one panel per setting."""
    fig = Figure(figsize=(10, 4))
    for ax, setting in zip(fig.subplots(1, 2), ("dna", "dna+cov"), strict=True):
        n = None
        for r in results:
            if r["snp_fraction"] == 1.0 and r["setting"] == setting:
                n = r["gallery_size"]
                ax.plot(np.arange(1, n + 1) / n, cmc(np.asarray(r["ranks"]), n), label=r["model"])
        if n:
            ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
        ax.set(title=f"CMC, {setting}", xlabel="rank / gallery size", ylabel="share identified")
        ax.legend(fontsize=8)
    return fig


def training_figure(training: dict[str, dict[str, list[float]]]) -> Figure | None:
    """Loss per epoch of every model that trains by epochs, one panel per loss."""
    curves = [(model, loss, values) for model, losses in training.items() for loss, values in losses.items() if values]
    if not curves:
        return None
    fig = Figure(figsize=(4 * len(curves), 3.2))
    for ax, (model, loss, values) in zip(np.atleast_1d(fig.subplots(1, len(curves))), curves, strict=True):
        ax.plot(np.arange(1, len(values) + 1), values)
        ax.set(title=f"{model}: {loss}", xlabel="epoch")
    fig.tight_layout()
    return fig


def missing_snp_figure(results: list[dict]) -> Figure:
    """Face error and R10 against the share of SNPs observed, per model and setting."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for model in dict.fromkeys(r["model"] for r in results):
        for setting, style in (("dna", "-"), ("dna+cov", "--")):
            rs = sorted(
                (r for r in results if r["model"] == model and r["setting"] == setting), key=lambda r: r["snp_fraction"]
            )
            if not rs:
                continue
            x = [r["snp_fraction"] for r in rs]
            axes[0].plot(x, [r["face_error_mm"] for r in rs], style, marker="o", label=f"{model} {setting}")
            axes[1].plot(x, [r["R10"] for r in rs], style, marker="o", label=f"{model} {setting}")
    axes[0].set(title="face error vs SNPs observed", xlabel="share of SNPs observed", ylabel="face_error_mm")
    axes[1].set(title="R10 vs SNPs observed", xlabel="share of SNPs observed", ylabel="R10")
    axes[1].legend(fontsize=7)
    return fig


def select_figure(runs: dict[str, dict]) -> Figure | None:
    """Select-among-N against N for every audit condition that ran (``runs``), with chance (1/N)."""
    if not runs:
        return None
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for name, m in runs.items():
        n = np.array(sorted(m["select"], key=int), dtype=int)
        ax.plot(n, [m["select"][k] for k in n], _STYLES.get(name, "-"), color=_COLOURS.get(name), label=name)
    n = np.arange(2, max(int(k) for m in runs.values() for k in m["select"]) + 1)
    ax.plot(n, 1 / n, ":", color="grey", label="chance (1/N)")
    ax.set(xlabel="N candidates (the owner and N - 1 drawn at random)", ylabel="P(owner ranked first)", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
