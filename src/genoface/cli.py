"""The ``genoface`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints a summary. Errors the
user can fix (:class:`GenofaceError`) print as one line on stderr with exit status 1;
``genoface --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from genoface.errors import GenofaceError
from genoface.simulate import DEFAULT_PRESET, PRESETS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="genoface: 3D faces and appearance traits from SNP genotypes, and re-identification risk.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: "Error: ..." on one line
)
console = Console(stderr=True)
out_console = Console()

_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn GenofaceError into a one-line message and exit status 1 (traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GenofaceError as exc:
            if _state["debug"]:
                raise
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


class _RichProgress:
    """Adapts the library's ``progress(stage, done, total)`` callbacks to rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


_PresetOpt = Annotated[
    str, typer.Option("--preset", help=f"Simulation preset: {', '.join(PRESETS)}.", show_default=True)
]
_ShapeOpt = Annotated[
    Path | None,
    typer.Option(
        "--shape-model",
        help="Surrey Face Model folder (non-commercial licence); default: $GENOFACE_SHAPE_MODEL, else the built-in face.",
    ),
]


@app.command()
@_user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Cohort directory to create.")],
    preset: _PresetOpt = DEFAULT_PRESET,
    n: Annotated[int | None, typer.Option("--n", min=10, help="Number of people (default: the preset's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the output is a function of it.")] = 0,
    shape_model: _ShapeOpt = None,
    populations: Annotated[
        str | None,
        typer.Option(
            "--populations", help="Populations of the demographic model: CEU, or YRI,CEU,CHB, or CEU=300,CHB=200."
        ),
    ] = None,
    contigs: Annotated[int | None, typer.Option("--contigs", min=1, help="Number of autosomal contigs.")] = None,
    contig_length: Annotated[
        int | None, typer.Option("--contig-length", min=10_000, help="Length of each autosomal contig (bp).")
    ] = None,
    x_length: Annotated[
        int | None, typer.Option("--x-length", min=0, help="Length of the chromosome X segment (bp); 0 for none.")
    ] = None,
    maf: Annotated[float | None, typer.Option("--maf", min=0.0, max=0.5, help="Minor-allele-frequency filter.")] = None,
    demography: Annotated[
        str | None, typer.Option("--demography", help="stdpopsim HomSap demographic model id.")
    ] = None,
    genotype_format: Annotated[
        str, typer.Option("--genotype-format", help="vcf, bed, or auto (bed for large cohorts).")
    ] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Simulate a cohort (genomes, 3D faces, covariates, traits) in the cohort directory format."""
    from genoface.report.summary import print_cohort_summary
    from genoface.simulate import get_preset
    from genoface.simulate import simulate as run_simulation

    chosen = get_preset(preset).customized(
        n=n,
        populations=populations,
        contigs=contigs,
        contig_length=contig_length,
        x_length=x_length,
        maf=maf,
        demographic_model=demography,
    )
    with _progress_bar() as bar:
        result = run_simulation(
            chosen,
            seed=seed,
            shape_model=shape_model,
            out=out,
            genotype_format=genotype_format,
            overwrite=overwrite,
            progress=_RichProgress(bar),
        )
    print_cohort_summary(out_console, result.cohort, result.variance)
    out_console.print(f"cohort written to [bold]{out}[/] (simulated)")


@app.command()
@_user_errors
def train(
    cohort: Annotated[Path, typer.Option("--cohort", help="Cohort directory to train on.")],
    model: Annotated[str, typer.Option("--model", help="Registered model name (see the README).")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to create.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed for models that draw random numbers.")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A hyper-parameter as KEY=VALUE (repeatable), e.g. --set epochs=50."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Train a model on a whole cohort and save it as a model directory."""
    from genoface.models.training import parse_params, train_model

    params = parse_params(set_ or [])
    with _progress_bar() as bar:
        path = train_model(
            cohort, model, out, seed=seed, overwrite=overwrite, params=params, progress=_RichProgress(bar)
        )
    out_console.print(f"model [bold]{model}[/] written to [bold]{path}[/]")


@app.command()
@_user_errors
def predict(
    model: Annotated[Path, typer.Option("--model", help="Model directory (genoface train).")],
    genotypes: Annotated[
        Path, typer.Option("--genotypes", help="VCF/BCF, PLINK .bed (or prefix), or a 23andMe/AncestryDNA .txt.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for one PLY mesh and one PNG per person (and age).")],
    sample: Annotated[list[str] | None, typer.Option("--sample", help="Only these sample ids (repeatable).")] = None,
    age: Annotated[float | None, typer.Option("--age", min=0, max=150, help="Age in years.")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="F or M.")] = None,
    bmi: Annotated[float | None, typer.Option("--bmi", min=5, max=100, help="BMI in kg/m².")] = None,
    ages: Annotated[
        str | None, typer.Option("--ages", help="Comma-separated ages: one face per age, e.g. 20,40,60.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Predict 3D faces from genotypes: a PLY mesh and a PNG render per person (and per age)."""
    from genoface.models.prediction import parse_ages, predict_to_folder

    written, report = predict_to_folder(
        model,
        genotypes,
        out,
        samples=sample,
        age=age,
        sex=sex,
        bmi=bmi,
        ages=parse_ages(ages),
        overwrite=overwrite,
    )
    if report is not None:
        out_console.print(
            f"{genotypes.name}: {report['n_called']:,} of the model's {report['n_panel']:,} SNPs read "
            f"({report['n_found']:,} in the file; {report['n_strand_flipped']:,} strand-flipped, "
            f"{report['n_ambiguous_unresolved']:,} ambiguous A/T or C/G left out, "
            f"{report['n_allele_mismatch']:,} with other alleles); the rest are treated as missing"
        )
    out_console.print(f"{len(written)} predicted faces written to [bold]{out}[/] (PLY + PNG)")


@app.command()
@_user_errors
def match(
    model: Annotated[Path, typer.Option("--model", help="Model directory (genoface train).")],
    genotypes: Annotated[
        Path, typer.Option("--genotypes", help="VCF/BCF, PLINK .bed (or prefix), or a 23andMe/AncestryDNA .txt.")
    ],
    faces: Annotated[Path, typer.Option("--faces", help="Cohort directory, or a folder of <id>.ply / <id>.obj faces.")],
    out: Annotated[Path, typer.Option("--out", help="ranks.tsv to write: genome, face, score, rank.")],
    covariates: Annotated[
        Path | None, typer.Option("--covariates", help="TSV of the genomes' sex/age/BMI (the dna+cov setting).")
    ] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Keep only the best N faces per genome.")] = None,
) -> None:
    """Rank candidate faces for each genome by the model's match score (best first)."""
    from genoface.models.matching import match_to_file

    with _progress_bar() as bar:
        own, report = match_to_file(
            model, genotypes, faces, out, covariates=covariates, top=top, progress=_RichProgress(bar)
        )
    if report is not None:
        out_console.print(f"{genotypes.name}: {report['n_called']:,} of the model's {report['n_panel']:,} SNPs read")
    if len(own):
        out_console.print(
            f"{len(own)} genomes have their own face in the gallery: top1 {(own == 1).mean():.3f}, "
            f"median rank {own.median():g} of {own.attrs.get('gallery', '?')}"
        )
    out_console.print(f"ranks written to [bold]{out}[/]")


@app.command()
@_user_errors
def traits(
    genotypes: Annotated[
        Path, typer.Option("--genotypes", help="VCF/BCF, PLINK .bed (or prefix), or a 23andMe/AncestryDNA .txt.")
    ],
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model directory from genoface train (its traits/), or a trait predictor."),
    ] = None,
    sample: Annotated[list[str] | None, typer.Option("--sample", help="Only these sample ids (repeatable).")] = None,
    basis: Annotated[
        str, typer.Option("--basis", help="dna (trait SNPs) or demographic (genetic sex and ancestry only).")
    ] = "dna",
    pgs: Annotated[
        list[Path] | None, typer.Option("--pgs", help="A PGS Catalog scoring file to score (repeatable).")
    ] = None,
    irisplex: Annotated[
        Path | None, typer.Option("--irisplex", help="IrisPlex coefficients (JSON) transcribed from the paper.")
    ] = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", help="Only this trait, e.g. eye_colour (repeatable).")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference genotypes (VCF/PLINK) to fit on instead of --model."),
    ] = None,
    reference_labels: Annotated[
        Path | None,
        typer.Option("--reference-labels", help="TSV: sample_id and the reference's population (and other traits)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Predict appearance traits with probabilities or intervals: sex, ancestry, eye / hair /
    skin colour, height, and polygenic scores."""
    import json

    from genoface.traits._files import traits_for_file

    if (reference is None) != (reference_labels is None):
        raise GenofaceError("--reference and --reference-labels go together")
    result = traits_for_file(
        genotypes,
        model=model,
        samples=sample,
        basis=basis,
        pgs=pgs or (),
        irisplex=irisplex,
        only=trait,
        reference=None if reference is None else (reference, reference_labels),
    )
    if as_json:
        typer.echo(json.dumps({"people": result.records, "notes": result.notes}, indent=2))
        return
    _print_traits(result.records)
    for note in result.notes:
        out_console.print(note)
    out_console.print("Predictions are probabilities, not certainties.")


def _print_traits(records: list[dict], shown: int = 8) -> None:
    """One row per trait, one column per person (the first ``shown``; --json has them all)."""
    from rich.table import Table

    def best(probs: dict[str, float]) -> str:
        k = max(probs, key=probs.get)
        return f"{k} ({probs[k]:.2f})"

    def cell(v: dict | None) -> str:
        if v is None:
            return ""
        if "interval95" in v:
            return f"{v['mean']:.1f} [{v['interval95'][0]:.1f}, {v['interval95'][1]:.1f}]"
        if "score" in v:
            return f"{v['score']:.4g} ({v['n_variants_used']} SNPs)"
        return best(v.get("probabilities", v))

    people = records[:shown]
    traits = [k for k in dict.fromkeys(k for r in people for k in r) if k not in ("sample_id", "basis", "pgs")]
    scores = list(dict.fromkeys(k for r in people for k in r.get("pgs", {})))
    table = Table(title="Predicted traits: most likely value (probability); mean [95% interval]")
    table.add_column("trait")
    for r in people:
        table.add_column(r["sample_id"])
    for trait in traits:
        table.add_row(
            trait, *(cell(r[trait]["probabilities"] if trait == "ancestry" else r.get(trait)) for r in people)
        )
    for name in scores:
        table.add_row(name, *(cell(r.get("pgs", {}).get(name)) for r in people))
    out_console.print(table)
    if len(records) > shown:
        out_console.print(f"... and {len(records) - shown} more people: use --json or --sample to see them")


@app.command()
@_user_errors
def audit(
    genotypes: Annotated[
        Path, typer.Option("--genotypes", help="VCF/BCF, PLINK .bed (or prefix), or a 23andMe/AncestryDNA .txt.")
    ],
    candidates: Annotated[
        Path, typer.Option("--candidates", help="Cohort directory (faces + traits) or a TSV of recorded traits.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Report folder to create: audit.json + audit.html.")],
    model: Annotated[
        Path | None, typer.Option("--model", help="Model directory (genoface train): traits and face scores.")
    ] = None,
    baseline_model: Annotated[
        Path | None,
        typer.Option("--baseline-model", help="A demographic model directory: face scores of the baseline."),
    ] = None,
    traits_model: Annotated[
        Path | None, typer.Option("--traits", help="Trait predictor to use instead of the one in --model.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """How well each genome picks out its owner among candidates: with and without faces, from
    the whole genome and from demographics (sex, ancestry) alone."""
    from genoface.audit._files import audit_to_folder
    from genoface.report.audit import print_audit

    result = audit_to_folder(
        genotypes, candidates, out, model=model, baseline_model=baseline_model, traits=traits_model, overwrite=overwrite
    )
    print_audit(out_console, result)
    out_console.print(f"report: [bold]{out / 'audit.html'}[/]")


@app.command()
@_user_errors
def evaluate(
    cohort: Annotated[Path, typer.Option("--cohort", help="Cohort to train on (and to split, without --test-cohort).")],
    out: Annotated[Path, typer.Option("--out", help="Report folder to create: metrics.json + report.html.")],
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated model names.")
    ] = "mean,demographic,lippert,sero,difface,oracle",
    test_cohort: Annotated[
        Path | None, typer.Option("--test-cohort", help="Evaluate on this cohort instead of a split.")
    ] = None,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", min=0.01, max=0.99, help="Share of people held out.")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the SNP masks and the bootstrap.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """Train each model on the training people and evaluate it on held-out people (the protocol)."""
    from genoface.cohort import Cohort
    from genoface.evaluate import evaluate_models
    from genoface.models import get_model_class
    from genoface.report.evaluation import write_evaluation_report

    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        get_model_class(name)  # unknown names fail before any work
    if out.exists() and not overwrite:
        raise GenofaceError(f"{out} already exists; choose another --out or remove it first")
    train = Cohort.load(cohort)
    test = Cohort.load(test_cohort) if test_cohort is not None else None
    with _progress_bar() as bar:
        result = evaluate_models(
            train, models=names, test_cohort=test, test_fraction=test_fraction, seed=seed, progress=_RichProgress(bar)
        )
    report = write_evaluation_report(out, result.metrics, examples=result.examples, overwrite=overwrite)
    _print_metrics(result.metrics)
    _print_audit(result.metrics)
    out_console.print(f"report: [bold]{report}[/]")


def _print_audit(metrics: dict) -> None:
    """The audit among the test people, when the evaluation ran one."""
    if metrics.get("audit"):
        from genoface.report.audit import print_audit

        print_audit(out_console, metrics["audit"])


def _print_metrics(metrics: dict) -> None:
    from rich.table import Table

    table = Table(title="Held-out test people, all SNPs" + (" (simulated)" if metrics["cohort"]["simulated"] else ""))
    for col in ("model", "setting", "face_error_mm", "top1", "R10", "select10", "auc"):
        table.add_column(col, justify="left" if col in ("model", "setting") else "right")
    rows = [r for r in metrics["results"] if r["snp_fraction"] == 1.0]
    for r in rows:
        table.add_row(
            r["model"],
            r["setting"],
            f"{r['face_error_mm']:.2f}",
            f"{r['top1']:.3f}",
            f"{r['R10']:.3f}",
            f"{r.get('select10', float('nan')):.3f}",
            f"{r['auc']:.3f}",
        )
    if rows:
        c = rows[0]
        table.add_row(
            "chance",
            f"gallery {c['gallery_size']}",
            "",
            f"{c['chance_top1']:.3f}",
            f"{c['chance_R10']:.3f}",
            f"{c.get('chance_select10', float('nan')):.3f}",
            f"{c['chance_auc']:.3f}",
        )
    out_console.print(table)


@app.command()
@_user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path("demo_output"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    shape_model: _ShapeOpt = None,
) -> None:
    """The main job on the embedded default: simulate, evaluate every baseline, write the report."""
    from genoface.report.demo import run_demo

    with _progress_bar() as bar:
        result = run_demo(out, seed=seed, shape_model=shape_model, progress=_RichProgress(bar))
    from genoface.report.summary import print_cohort_summary

    print_cohort_summary(out_console, result.cohort, result.variance)
    _print_metrics(result.metrics)
    _print_audit(result.metrics)
    out_console.print(f"demo outputs in [bold]{out}[/]: open [bold]{result.report}[/]")


def main() -> None:
    """Entry point of the ``genoface`` console script."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    app()
