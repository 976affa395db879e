"""The ``genoface`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints a summary. Errors the
user can fix (:class:`GenofaceError`, and files that cannot be read or written) print as one
line on stderr with exit status 1; any other exception is a bug and prints as one line
"internal error: ..." with exit status 70. ``genoface --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from genoface.core.errors import GenofaceError, one_line
from genoface.usecases.simulate import DEFAULT_PRESET, PRESETS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="genoface: 3D faces and appearance traits from SNP genotypes, and re-identification risk.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click errors: "Error: ..." on one line
)
console = Console(stderr=True)
out_console = Console()

_state: dict[str, Any] = {"debug": False, "scheduler": "threads"}


def _print_version(value: bool) -> None:
    if value:
        from genoface import __version__

        out_console.print(f"genoface {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    scheduler: Annotated[
        str,
        typer.Option(
            "--scheduler",
            help="Where genotype passes run (Dask): threads (in this process), synchronous, distributed "
            "(a LocalCluster on this machine) or a Dask scheduler's address (tcp://host:8786).",
        ),
    ] = "threads",
) -> None:
    _state["debug"] = debug
    _state["scheduler"] = scheduler
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


#: Exit status of an error the user can fix (click's usage errors exit with 2).
EXIT_USER_ERROR = 1
#: Exit status of an unexpected exception: a bug in genoface (EX_SOFTWARE of sysexits.h).
EXIT_INTERNAL_ERROR = 70


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The error boundary of every command: nothing escapes as a traceback (unless --debug).

    GenofaceError (bad input or options) and OSError (a file that cannot be read or written)
    print as one line on stderr, exit status 1. Any other exception is a bug: one line naming
    it and where it was raised, exit status 70, and a hint to rerun with --debug for the
    traceback. Click's own exits, usage errors and Ctrl-C pass through.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from genoface.usecases.scale import use_scheduler

        try:
            with use_scheduler(_state["scheduler"]):
                return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except GenofaceError as exc:
            if _state["debug"]:
                raise
            _print_error(str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except OSError as exc:
            if _state["debug"] or exc.errno == errno.EPIPE:  # click handles a closed pipe
                raise
            _print_error(_os_error_message(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except MemoryError:
            if _state["debug"]:
                raise
            _print_error("out of memory; use a machine with more memory or a smaller input (fewer people or SNPs)")
            raise typer.Exit(EXIT_USER_ERROR) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            logging.getLogger("genoface.cli").debug("unexpected error", exc_info=True)
            _print_error(
                f"{type(exc).__name__}: {exc} (at {_origin(exc)}); this is a bug in genoface: "
                "rerun with --debug to see the traceback, and please report it",
                label="internal error:",
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


def _print_error(message: str, label: str = "error:") -> None:
    """One line on stderr; the message is plain text (a "[/]" from a file is not rich markup)."""
    from rich.text import Text

    console.print(Text.assemble((label, "bold red"), " ", one_line(message)), highlight=False, soft_wrap=True)


def _os_error_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def _origin(exc: BaseException) -> str:
    """file:line where ``exc`` was raised, and the innermost line of genoface's own code that
    led there when that is elsewhere (a library called with something it did not expect)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith(f"{os.sep}cli.py")]
    if not frames:
        return "genoface/cli.py"

    def short(f: traceback.FrameSummary) -> str:
        parts = Path(f.filename).parts
        for anchor in ("genoface", "site-packages"):
            if anchor in parts:
                return "/".join(parts[parts.index(anchor) + (anchor == "site-packages") :]) + f":{f.lineno}"
        return f"{Path(f.filename).name}:{f.lineno}"

    ours = [f for f in frames if f"{os.sep}genoface{os.sep}" in f.filename]
    where = short(frames[-1])
    return where if not ours or ours[-1] is frames[-1] else f"{where}, called from {short(ours[-1])}"


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


# The simulated genetic architecture's overrides (genoface simulate; None keeps the preset's).
_SnpHeritabilityOpt = Annotated[
    float | None,
    typer.Option("--snp-heritability", help="Share of total shape variance carried by the simulated SNPs."),
]
_LociOpt = Annotated[int | None, typer.Option("--loci", help="Number of regional (known) loci with localized effects.")]
_BackgroundOpt = Annotated[int | None, typer.Option("--background-snps", help="Number of polygenic background SNPs.")]
_RegionalShareOpt = Annotated[
    float | None, typer.Option("--regional-share", help="Share of the genetic variance on the regional loci.")
]
_MaxLocusShareOpt = Annotated[
    float | None,
    typer.Option("--max-locus-share", help="Largest share of a shape component's variance one SNP may explain."),
]

# How genoface simulate writes a cohort.
_GenotypeFormatOpt = Annotated[
    str, typer.Option("--genotype-format", "--format", help="vcf, bed (or plink), or auto (bed for large cohorts).")
]
_FacesFormatOpt = Annotated[
    str,
    typer.Option(
        "--faces-format", help="ply (faces/<id>.ply) or npy (one faces.npy, written as drawn; large cohorts)."
    ),
]
_OutOfCoreOpt = Annotated[
    bool | None,
    typer.Option(
        "--out-of-core/--in-memory",
        help="Decode the genotypes into a store on disk, never whole in memory (default: above 2 GB of calls).",
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
    genotype_format: _GenotypeFormatOpt = "auto",
    faces_format: _FacesFormatOpt = "ply",
    out_of_core: _OutOfCoreOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
    snp_heritability: _SnpHeritabilityOpt = None,
    loci: _LociOpt = None,
    background_snps: _BackgroundOpt = None,
    regional_share: _RegionalShareOpt = None,
    max_locus_share: _MaxLocusShareOpt = None,
) -> None:
    """Simulate a cohort (genomes, 3D faces, covariates, traits) in the cohort directory format."""
    from genoface.usecases.simulate import print_cohort_summary, simulate_cohort

    written = dict(genotype_format=genotype_format, faces_format=faces_format, lazy=out_of_core, overwrite=overwrite)
    with _progress_bar() as bar:
        result = simulate_cohort(
            preset,
            out,
            seed=seed,
            shape_model=shape_model,
            **written,
            progress=_RichProgress(bar),
            n=n,
            populations=populations,
            contigs=contigs,
            contig_length=contig_length,
            x_length=x_length,
            maf=maf,
            demographic_model=demography,
            snp_heritability=snp_heritability,
            n_regional_loci=loci,
            n_background_snps=background_snps,
            regional_share=regional_share,
            max_locus_share=max_locus_share,
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
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="Train on this many processes (difface only: torch.distributed data parallel, gloo on the "
            "CPU, one GPU each with NCCL).",
        ),
    ] = 1,
) -> None:
    """Train a model on a whole cohort and save it as a model directory."""
    from genoface.usecases.train import parse_params, train_model

    params = parse_params(set_ or [])
    with _progress_bar() as bar:
        path = train_model(
            cohort,
            model,
            out,
            seed=seed,
            overwrite=overwrite,
            params=params,
            progress=_RichProgress(bar),
            processes=processes,
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
    from genoface.usecases.predict import parse_ages, predict_to_folder

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
    _print_match(report)
    out_console.print(f"{len(written)} predicted faces written to [bold]{out}[/] (PLY + PNG)")


def _print_match(report) -> None:
    """The allele match report of a genotype file read against a model's panel, one line (rich
    markup escaped: file names may hold brackets)."""
    from rich.markup import escape

    out_console.print(escape(f"alleles: {report.summary()}; what is not matched is treated as missing"))


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
    assign: Annotated[
        bool,
        typer.Option(
            "--assign",
            help="Also give every genome a distinct face at once (closed-set joint assignment, Hungarian "
            "algorithm): column 'assigned' (1 for that face). Meaningful when every genome's face is in the gallery.",
        ),
    ] = False,
) -> None:
    """Rank candidate faces for each genome by the model's match score (best first)."""
    from genoface.usecases.match import match_to_file

    with _progress_bar() as bar:
        own, report = match_to_file(
            model, genotypes, faces, out, covariates=covariates, top=top, assign=assign, progress=_RichProgress(bar)
        )
    _print_match(report)
    if len(own):
        assigned = f", top1 assigned {own.attrs['assigned'].mean():.3f}" if "assigned" in own.attrs else ""
        out_console.print(
            f"{len(own)} genomes have their own face in the gallery: top1 {(own == 1).mean():.3f}{assigned}, "
            f"median rank {own.median():g} of {own.attrs.get('gallery', '?')}"
        )
    out_console.print(f"ranks written to [bold]{out}[/]")


# Options of `genoface traits`, declared once here so that the command reads as what it does.
_PgsOpt = Annotated[list[Path] | None, typer.Option("--pgs", help="A PGS Catalog scoring file to score (repeatable).")]
_IrisplexOpt = Annotated[
    str | None,
    typer.Option(
        "--irisplex",
        help="Also the original IrisPlex eye model: 'walsh2011' (from the --hirisplex folder), a table of that form (.tsv), "
        "or coefficients you transcribed (JSON).",
    ),
]
_HirisplexOpt = Annotated[
    Path | None,
    typer.Option(
        "--hirisplex",
        help="Folder of the HIrisPlex-S tables (eye_webtool.tsv, ..., snp_panel_grch37.tsv; not shipped), "
        "e.g. ../shared/data/hirisplex; default $GENOFACE_HIRISPLEX.",
    ),
]
_TraitOpt = Annotated[
    list[str] | None,
    typer.Option("--trait", help="Only this trait, e.g. sex or eye_colour_hirisplex_s (repeatable)."),
]
_ReferenceOpt = Annotated[
    Path | None, typer.Option("--reference", help="Reference genotypes (VCF/PLINK) to fit on instead of --model.")
]
_ReferenceLabelsOpt = Annotated[
    Path | None,
    typer.Option("--reference-labels", help="TSV: sample_id and the reference's population (and other traits)."),
]
_MissingSnpsOpt = Annotated[
    str,
    typer.Option(
        "--missing-snps",
        help="People missing SNPs of a published model: 'withhold' their prediction (default), or a 1000 "
        "Genomes population (EUR, AFR, AMR, EAS, SAS, ALL) whose allele frequencies fill the missing "
        "genotypes (averaged over; flagged complete: false).",
    ),
]
_PgsAmbiguousOpt = Annotated[
    str,
    typer.Option(
        "--pgs-ambiguous",
        help="A/T and C/G SNPs of --pgs files, whose strand a scoring file does not tell: drop (default, as "
        "the PGS Catalog calculator), keep (as written), or frequency (orient by allele frequency).",
    ),
]
_PgsMissingOpt = Annotated[
    str,
    typer.Option(
        "--pgs-missing",
        help="Missing calls in --pgs scores: mean (the samples' mean dosage, as plink2; default), frequency "
        "(the scoring file's allele frequency) or none (left out).",
    ),
]


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
    pgs: _PgsOpt = None,
    irisplex: _IrisplexOpt = None,
    hirisplex: _HirisplexOpt = None,
    trait: _TraitOpt = None,
    reference: _ReferenceOpt = None,
    reference_labels: _ReferenceLabelsOpt = None,
    missing_snps: _MissingSnpsOpt = "withhold",
    pgs_ambiguous: _PgsAmbiguousOpt = "drop",
    pgs_missing: _PgsMissingOpt = "mean",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Predict appearance traits with probabilities or intervals. Out of the box: genetic sex and,
    given the tables (--hirisplex), the published HIrisPlex-S eye colour, hair colour and hair shade models; with --model or
    --reference also ancestry and trained eye / hair / skin colour and height; PGS scores."""
    import json

    from genoface.usecases.traits import traits_for_file

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
        missing_snps=missing_snps,
        pgs_ambiguous=pgs_ambiguous,
        pgs_missing=pgs_missing,
        hirisplex=hirisplex,
    )
    if as_json:
        out = {"people": result.records, "notes": result.notes, "models": result.models, "citations": result.citations}
        typer.echo(json.dumps(out, indent=2))
        return
    _print_traits(result.records)
    for note in result.notes:
        out_console.print(note, highlight=False, markup=False)
    for name, spec in result.models.items():
        out_console.print(f"{name}: {spec['title']} ({'; '.join(spec['citation'])})", highlight=False, markup=False)
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
        if "probabilities" in v and v["probabilities"] is None:  # a published model withheld
            k = len(v.get("missing_snps", []))
            return f"withheld ({k} SNP{'s' if k != 1 else ''} missing)"
        text = best(v.get("probabilities", v))
        return text + (" incomplete" if v.get("complete") is False else "")

    def sex_cell(r: dict) -> str:
        call = r.get("sex_call")
        if call is None:
            return cell(r.get("sex"))
        p = r["sex"][call["call"]] if call["call"] in r["sex"] else r["sex"]["M"]
        return f"{call['call']} ({p:.2f})" if call["call"] != "unknown" else f"unknown (P(M) {p:.2f})"

    people = records[:shown]
    hidden = ("sample_id", "basis", "pgs", "sex_call")
    traits = [k for k in dict.fromkeys(k for r in people for k in r) if k not in hidden]
    scores = list(dict.fromkeys(k for r in people for k in r.get("pgs", {})))
    table = Table(title="Predicted traits: most likely value (probability); mean [95% interval]")
    table.add_column("trait", no_wrap=True)
    for r in people:
        table.add_column(r["sample_id"])
    for trait in traits:
        if trait == "sex":
            table.add_row(trait, *(sex_cell(r) if "sex" in r else "" for r in people))
            continue
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
    assign: Annotated[
        bool,
        typer.Option(
            "--assign",
            help="Also assign every genome a distinct candidate at once (closed-set joint assignment): "
            "'top1 assigned'. Meaningful when every genome's owner is among the candidates.",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """How well each genome picks out its owner among candidates: with and without faces, from
    the whole genome and from demographics (sex, ancestry) alone."""
    from genoface.usecases.audit import audit_to_folder, print_audit

    result = audit_to_folder(
        genotypes,
        candidates,
        out,
        model=model,
        baseline_model=baseline_model,
        traits=traits_model,
        assign=assign,
        overwrite=overwrite,
    )
    print_audit(out_console, result)
    for note in result["notes"]:
        out_console.print(note, highlight=False, markup=False)
    out_console.print(f"report: [bold]{out / 'audit.html'}[/]")


@app.command()
@_user_errors
def evaluate(
    cohort: Annotated[Path, typer.Option("--cohort", help="Cohort to train on (and to split, without --test-cohort).")],
    out: Annotated[Path, typer.Option("--out", help="Report folder to create: metrics.json + report.html.")],
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated model names.")
    ] = "mean,demographic,lippert,sero,mahdi,difface,bayes,oracle",
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
    from genoface.usecases.evaluate import evaluate_to_folder

    names = [m.strip() for m in models.split(",") if m.strip()]
    with _progress_bar() as bar:
        result, report = evaluate_to_folder(
            cohort,
            out,
            models=names,
            test_cohort=test_cohort,
            test_fraction=test_fraction,
            seed=seed,
            overwrite=overwrite,
            progress=_RichProgress(bar),
        )
    _print_metrics(result.metrics)
    _print_audit(result.metrics)
    out_console.print(f"report: [bold]{report}[/]")


def _print_audit(metrics: dict) -> None:
    """The audit among the test people, when the evaluation ran one."""
    if metrics.get("audit"):
        from genoface.usecases.audit import print_audit

        print_audit(out_console, metrics["audit"])


def _print_metrics(metrics: dict) -> None:
    from rich.table import Table

    table = Table(title="Held-out test people, all SNPs" + (" (simulated)" if metrics["cohort"]["simulated"] else ""))
    for col in ("model", "setting", "face_error_mm", "top1", "R10", "select10", "auc", "genetic share"):
        table.add_column(col, justify="left" if col in ("model", "setting") else "right")
    rows = [r for r in metrics["results"] if r["snp_fraction"] == 1.0]
    shares = {(s["model"], s["setting"]): s["genetic_share"] for s in metrics.get("shares", [])}
    for r in rows:
        share = shares.get((r["model"], r["setting"]))
        table.add_row(
            r["model"],
            r["setting"],
            f"{r['face_error_mm']:.2f}",
            f"{r['top1']:.3f}",
            f"{r['R10']:.3f}",
            f"{r.get('select10', float('nan')):.3f}",
            f"{r['auc']:.3f}",
            "" if share is None else f"{share:.2f}",
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
            "",
        )
    out_console.print(table)


@app.command()
@_user_errors
def plan(
    out: Annotated[Path, typer.Option("--out", help="Folder to create: plan.tsv, plan.json, plan.html.")],
    preset: Annotated[str | None, typer.Option("--preset", help=f"Simulate this preset: {', '.join(PRESETS)}.")] = None,
    cohort: Annotated[
        Path | None, typer.Option("--cohort", help="Your own cohort instead of --preset: nested subsets of it.")
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option("--sizes", help="Increasing training sizes [default: 500,...,10000, or what --cohort holds]."),
    ] = None,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated models; demographic and (simulated) oracle join them.")
    ] = "bayes,lippert",
    test_size: Annotated[
        int | None,
        typer.Option("--test-size", help="Held-out test people [default: a fifth of everyone, at most 500]."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation, the people's order, the bootstrap.")] = 0,
    shape_model: _ShapeOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")] = False,
) -> None:
    """How many people does a study need? Learning curves of each model on nested training sets,
    measured on one fixed test set, beside a linear predictor's expected accuracy (Daetwyler)."""
    from genoface.usecases.plan import parse_sizes, plan_to_folder, print_plan

    with _progress_bar() as bar:
        result, page = plan_to_folder(
            out,
            preset=preset,
            cohort=cohort,
            sizes=None if sizes is None else parse_sizes(sizes),
            models=[m.strip() for m in models.split(",") if m.strip()],
            test_size=test_size,
            seed=seed,
            shape_model=shape_model,
            overwrite=overwrite,
            progress=_RichProgress(bar),
        )
    print_plan(out_console, result)
    # soft_wrap: a long path stays on one line, to be copied
    out_console.print(f"learning curves: [bold]{page}[/] (table: {Path(out) / 'plan.tsv'})", soft_wrap=True)


@app.command()
@_user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's outputs.")] = Path("demo_output"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    shape_model: _ShapeOpt = None,
) -> None:
    """The main job on the embedded default: simulate, evaluate every baseline, write the report."""
    from genoface.usecases.demo import print_cohort_summary, run_demo

    with _progress_bar() as bar:
        result = run_demo(out, seed=seed, shape_model=shape_model, progress=_RichProgress(bar))
    print_cohort_summary(out_console, result.cohort, result.variance)
    _print_metrics(result.metrics)
    _print_audit(result.metrics)
    out_console.print(f"demo outputs in [bold]{out}[/]: open [bold]{result.report}[/]")


_LandmarksOpt = Annotated[
    Path | None,
    typer.Option("--landmarks", help="Folder of <sample_id>.txt landmark files: named points or iBUG 68 (x y z)."),
]
_TemplateLandmarksOpt = Annotated[
    Path | None,
    typer.Option(
        "--template-landmarks",
        help="The template's landmarks: JSON {name: vertex id} or an iBUG TOML such as ibug_to_sfm.txt "
        "(default: the cohort.json beside the template, or the built-in face's).",
    ),
]
_RegisterShapeOpt = Annotated[
    str | None,
    typer.Option(
        "--shape-model",
        help="A shape model on the template (builtin, or a Surrey Face Model folder): its prior guides the "
        "fit before the non-rigid step.",
    ),
]


@app.command()
@_user_errors
def register(
    template: Annotated[
        Path, typer.Option("--template", help="Template mesh (PLY/OBJ) or a cohort directory holding template.ply.")
    ],
    scans: Annotated[
        list[Path], typer.Option("--scans", help="A folder of scans (PLY, OBJ, STL, OFF) or scan files; repeatable.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for faces/<sample_id>.ply, the QC and the report; a rerun resumes.")
    ],
    landmarks: _LandmarksOpt = None,
    template_landmarks: _TemplateLandmarksOpt = None,
    shape_model: _RegisterShapeOpt = None,
    units: Annotated[str, typer.Option("--units", help="Length unit of the scans and landmarks: mm, cm or m.")] = "mm",
    report: Annotated[Path | None, typer.Option("--report", help="Report page (default OUT/report.html).")] = None,
    genotypes: Annotated[
        Path | None, typer.Option("--genotypes", help="VCF/BCF or PLINK .bed: with --covariates, OUT becomes a cohort.")
    ] = None,
    covariates: Annotated[
        Path | None, typer.Option("--covariates", help="covariates.tsv (sample_id, sex, age, bmi) for the cohort.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, help="Scans registered at once (default: the CPUs).")
    ] = None,
) -> None:
    """Register raw 3D scans onto the template: pose, non-rigid fit, quality control, report."""
    from genoface.usecases.register import run_register

    with _progress_bar() as bar:
        result = run_register(
            template,
            scans,
            out,
            landmarks=landmarks,
            template_landmarks=template_landmarks,
            shape_model=shape_model,
            units=units,
            report=report,
            genotypes=genotypes,
            covariates=covariates,
            n_jobs=jobs,
            progress=_RichProgress(bar),
        )
    out_console.print(
        f"{len(result.records)} scans: {result.registered} registered, {result.resumed} kept from an earlier run; "
        f"faces in [bold]{result.out / 'faces'}[/], report [bold]{result.report}[/]"
    )
    if result.cohort is not None:
        out_console.print(f"cohort written to [bold]{result.cohort}[/]")


@app.command("import")
@_user_errors
def import_(
    cohort: Annotated[Path, typer.Option("--cohort", help="Cohort directory to import.")],
) -> None:
    """Write a cohort's genotypes into its chunked store (a PLINK fileset a slice at a time, never
    whole in memory), so later commands read only what they need."""
    from genoface.usecases.scale import import_cohort

    with _progress_bar() as bar:
        info = import_cohort(cohort, progress=_RichProgress(bar))
    out_console.print(
        f"{info['n_samples']} people x {info['n_variants']} variants in [bold]{info['store']}[/] "
        f"({info['store_bytes'] / 1e6:.1f} MB; chunks of {info['chunk_samples']} people x "
        f"{info['chunk_variants']} variants)"
    )


@app.command()
@_user_errors
def serve(
    model: Annotated[
        list[Path], typer.Option("--model", help="A trained model directory; repeat to offer several in the page.")
    ],
    cohort: Annotated[
        Path | None, typer.Option("--cohort", help="A cohort whose samples can be chosen and whose faces are matched.")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; other than loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", help="A secret every request must carry (required off loopback).")
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", min=0.001, help="Largest upload accepted.")
    ] = 200.0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Requests worked on at once.")] = 2,
    queue: Annotated[int, typer.Option("--queue", min=0, help="Requests waiting beyond those (then 503).")] = 8,
    processes: Annotated[
        int,
        typer.Option("--processes", min=1, help="Server processes, each with the models loaded (about one core each)."),
    ] = 1,
) -> None:
    """Serve the face, the traits and the matches in a browser (a local web application)."""
    from rich.markup import escape

    from genoface.server import ServerSettings, serve

    settings = ServerSettings(list(model), cohort, host, port, token, max_upload_mb, workers, queue, processes)
    serve(settings, say=lambda text: out_console.print(escape(text)))


def main() -> None:
    """Entry point of the ``genoface`` console script."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    app()
