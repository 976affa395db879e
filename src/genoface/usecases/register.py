"""``genoface register``: raw 3D scans registered onto the template, checked and reported.

The output folder is laid out as a cohort directory's face half, and becomes a whole cohort when
genotypes and covariates are given::

    OUT/
      template.ply                   the template every face is registered to
      faces/<sample_id>.ply          one registered face per scan that passed quality control
      registration/<sample_id>.json  the scan's quality figures and the inputs' signature
      registration/<sample_id>.png   the registration over its scan (for the report)
      registration/qc.tsv            one row per scan
      report.html                    the registration report (or --report)
      cohort.json, genotypes.*, covariates.tsv   with --genotypes and --covariates

Every input is checked before any registration starts, so a bad file stops the run with one line
and no output. Scans are registered in parallel processes; each scan's files appear complete or
not at all, and a scan whose inputs and settings have not changed since an earlier run is not
registered again (the run resumes). A scan that fails quality control is reported, never written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_write_bytes, write_json
from genoface.io.landmarks import read_landmarks, read_template_landmarks
from genoface.io.meshes import read_mesh, write_mesh
from genoface.report.registration import write_registration_report
from genoface.shape import (
    LANDMARK_NAMES,
    UNIT_MM,
    RegistrationOptions,
    Template,
    builtin_shape_model,
    load_sfm,
    register_scan,
    render_overlay_png,
)

#: Scan file suffixes read (trimesh's readers; PLY and OBJ are what scanners export most).
SCAN_SUFFIXES = (".ply", ".obj", ".stl", ".off")
_LANDMARK_SUFFIXES = (".txt", ".tsv", ".csv", ".pts", ".lm3")
# Bump when the pipeline changes what it writes, so that a resumed run registers again.
_PIPELINE_VERSION = 1
# A face scan in mm spans about the template's size (more with the neck and hair); a span this
# many times larger or smaller means the units are wrong.
_UNIT_SLACK = 5.0


@dataclass(frozen=True)
class ScanJob:
    """One scan to register: its sample id, mesh file and landmark file (if any)."""

    sample_id: str
    scan: Path
    landmarks: Path | None = None


@dataclass
class RegisterResult:
    """What a run wrote: the folder, the report, one QC record per scan, and the cohort if any."""

    out: Path
    report: Path
    records: list[dict[str, Any]]
    registered: int = 0
    resumed: int = 0
    cohort: Path | None = None
    failed: list[str] = field(default_factory=list)


def load_template(
    path: str | os.PathLike,
    landmarks: str | os.PathLike | None = None,
    shape_model: str | os.PathLike | None = None,
) -> Template:
    """The template mesh (a PLY/OBJ, or a cohort directory's template), its landmarks, and the
    shape model's prior when ``shape_model`` ("builtin" or a Surrey Face Model folder) is given.

    Landmarks come from ``landmarks`` (JSON or iBUG TOML, see
    :func:`genoface.io.landmarks.read_template_landmarks`), else the ``template_landmarks`` of a
    ``cohort.json`` beside the template, else the built-in face's when the template is it.
    """
    path = Path(path)
    if path.is_dir():
        path = next((path / f"template{s}" for s in (".ply", ".obj") if (path / f"template{s}").is_file()), path)
    vertices, triangles = read_mesh(path)
    if len(triangles) == 0:
        raise GenofaceError(f"{path}: the template has no triangles; give the template mesh, not a point set")
    if landmarks is not None:
        marks = read_template_landmarks(landmarks)
    elif (path.parent / "cohort.json").is_file():
        marks = read_template_landmarks(path.parent / "cohort.json")
    else:
        marks = _builtin_landmarks(vertices)
    bad = [k for k, v in marks.items() if not 0 <= v < len(vertices)]
    if bad:
        raise GenofaceError(
            f"{landmarks or path}: landmark {bad[0]} names no vertex of the {len(vertices)}-vertex template"
        )
    basis = None if shape_model is None else _model_basis(shape_model, vertices, path)
    return Template(vertices, triangles, marks, basis)


def _model_basis(shape_model: str | os.PathLike, vertices: np.ndarray, path: Path) -> np.ndarray:
    """The shape model's scaled basis, checked to lie on the template's vertices."""
    model = builtin_shape_model() if str(shape_model) == "builtin" else load_sfm(shape_model)
    if model.n_vertices != len(vertices):
        raise GenofaceError(
            f"{path}: the template has {len(vertices)} vertices but the shape model {model.name!r} has "
            f"{model.n_vertices}; give the model the template was made from, or no --shape-model"
        )
    return model.scaled_basis


def _builtin_landmarks(vertices: np.ndarray) -> dict[str, int]:
    builtin = builtin_shape_model()
    if vertices.shape == builtin.mean.shape and np.allclose(vertices, builtin.mean, atol=1e-3):
        return dict(builtin.landmarks)
    return {}


def find_scans(scans: Sequence[str | os.PathLike], landmarks: str | os.PathLike | None = None) -> list[ScanJob]:
    """The scans named by ``scans`` (files, or folders of them), with their landmark files.

    A scan's sample id is its file name without the suffix; ``landmarks`` is a folder holding
    ``<sample_id>.txt`` (or .tsv, .csv, .pts, .lm3) for every scan.
    """
    files: dict[str, Path] = {}
    for given in map(Path, scans):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.suffix.lower() in SCAN_SUFFIXES and p.is_file())
            if not found:
                raise GenofaceError(f"{given}: no scans ({', '.join(SCAN_SUFFIXES)}) in this folder")
        elif given.is_file():
            found = [given]
        else:
            raise GenofaceError(f"{given}: no such scan file or folder")
        for p in found:
            if p.stem in files and files[p.stem] != p:
                raise GenofaceError(f"two scans for sample {p.stem}: {files[p.stem]} and {p}; keep one")
            files[p.stem] = p
    if landmarks is None:
        return [ScanJob(sid, p) for sid, p in files.items()]
    folder = Path(landmarks)
    if not folder.is_dir():
        raise GenofaceError(f"{folder}: --landmarks must be a folder of <sample_id>.txt files")
    jobs = []
    for sid, p in files.items():
        marks = [folder / f"{sid}{s}" for s in _LANDMARK_SUFFIXES if (folder / f"{sid}{s}").is_file()]
        if not marks:
            raise GenofaceError(
                f"{folder}: no landmark file for scan {sid} (expected {sid}.txt); add it or drop --landmarks"
            )
        jobs.append(ScanJob(sid, p, marks[0]))
    return jobs


def read_scan(job: ScanJob, units: str, template: Template) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """A scan's mesh and landmarks in mm, checked: a surface mesh, sensible units, landmarks
    the template can use. Every problem is one :class:`GenofaceError` naming the file."""
    vertices, triangles = read_mesh(job.scan)
    if len(triangles) == 0:
        raise GenofaceError(f"{job.scan}: a point set without triangles; export the scan as a surface mesh")
    vertices = vertices * UNIT_MM[units]
    _check_units(job.scan, vertices, template, units)
    if job.landmarks is None:
        return vertices, triangles, None
    known = set(LANDMARK_NAMES) | set(template.landmarks)
    marks = {k: v * UNIT_MM[units] for k, v in read_landmarks(job.landmarks, known).items()}
    shared = [k for k in marks if k in template.landmarks]
    if len(shared) < 3:
        raise GenofaceError(
            f"{job.landmarks}: shares {len(shared)} landmarks with the template (need 3); give the template's "
            "landmarks with --template-landmarks"
        )
    far = _span(vertices) * 0.75
    centre = vertices.mean(axis=0)
    off = [k for k, v in marks.items() if np.linalg.norm(v - centre) > far]
    if off:
        raise GenofaceError(f"{job.landmarks}: landmark {off[0]} lies off the scan; check the file's units and frame")
    return vertices, triangles, marks


def _span(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.ptp(points, axis=0)))


def _check_units(path: Path, vertices: np.ndarray, template: Template, units: str) -> None:
    ratio = _span(vertices) / _span(template.vertices)
    if 1 / _UNIT_SLACK <= ratio <= _UNIT_SLACK:
        return
    guess = min(UNIT_MM, key=lambda u: abs(np.log(ratio * UNIT_MM[u] / UNIT_MM[units])))
    hint = f"; its size suggests --units {guess}" if guess != units else ""
    raise GenofaceError(
        f"{path}: spans {_span(vertices):.3g} mm read as {units}, {ratio:.3g} times the template's size; "
        f"check the scan's units{hint}"
    )


def signature(job: ScanJob, units: str, template: Template, options: RegistrationOptions) -> str:
    """A hash of everything a scan's registration depends on: a resumed run compares it."""
    h = hashlib.sha256(f"{_PIPELINE_VERSION}|{units}|{options!r}".encode())
    for arr in (template.vertices, template.triangles, template.basis):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr(sorted(template.landmarks.items())).encode())
    for p in (job.scan, job.landmarks):
        if p is not None:
            h.update(p.read_bytes())
    return h.hexdigest()


# ---- the run -------------------------------------------------------------------------------------

# What a worker process needs for every scan, set once by _start_worker.
_WORKER: dict[str, Any] = {}
# Colour scale of the report's heatmaps (mm): the QC's "near" distance doubled.
_HEATMAP_MM = 4.0
# The report's renders use the scan decimated to this many triangles (the heatmap is what matters).
_RENDER_TRIANGLES = 20_000


def register_scans(
    template: Template,
    jobs: Sequence[ScanJob],
    out: str | os.PathLike,
    *,
    units: str = "mm",
    options: RegistrationOptions | None = None,
    n_jobs: int | None = None,
    progress: Any = None,
) -> RegisterResult:
    """Register every scan of ``jobs`` onto ``template`` into ``out`` (see the module docstring).

    Checks every input first; then registers, in ``n_jobs`` processes (default: the CPUs), the
    scans whose signature differs from an earlier run's. ``progress(stage, done, total)``.
    """
    if units not in UNIT_MM:
        raise GenofaceError(f"--units must be one of {', '.join(UNIT_MM)}, got {units!r}")
    if not jobs:
        raise GenofaceError("no scans to register")
    options = options or RegistrationOptions()
    out = _check_out(Path(out), template)
    state = {"template": template, "units": units, "options": options, "out": out}
    signatures = {job.sample_id: signature(job, units, template, options) for job in jobs}
    todo = [job for job in jobs if _earlier(out, job.sample_id) != signatures[job.sample_id]]
    n_jobs = max(1, min(n_jobs or os.cpu_count() or 1, len(todo) or 1))
    with _Pool(n_jobs, state) as run:
        _check_all(run, todo, progress)
        _make_out(out, template)  # only now: a bad input leaves nothing behind
        fresh = {
            r["sample_id"]: r
            for r in _each(run, _register_one, [(j, signatures[j.sample_id]) for j in todo], "registering", progress)
        }
    records = [fresh.get(job.sample_id) or _read_record(out, job.sample_id) for job in jobs]
    _write_qc_table(out / "registration" / "qc.tsv", records)
    failed = [r["sample_id"] for r in records if r["failed"]]
    return RegisterResult(out, out / "report.html", records, len(fresh), len(jobs) - len(todo), None, failed)


def _check_out(out: Path, template: Template) -> Path:
    """``out`` can take this run: not a file, and not holding faces registered to another template."""
    if out.exists() and not out.is_dir():
        raise GenofaceError(f"{out}: exists and is not a folder; choose another --out")
    previous = out / "template.ply"
    if previous.is_file():
        old, _ = read_mesh(previous)
        if old.shape != template.vertices.shape or not np.allclose(old, template.vertices, atol=1e-4):
            raise GenofaceError(f"{out}: holds faces registered to another template; choose another --out")
    return out


def _make_out(out: Path, template: Template) -> None:
    (out / "faces").mkdir(parents=True, exist_ok=True)
    (out / "registration").mkdir(exist_ok=True)
    if not (out / "template.ply").is_file():
        write_mesh(out / "template.ply", template.vertices, template.triangles)


def _earlier(out: Path, sample_id: str) -> str | None:
    """The signature an earlier run recorded for this scan, if its outputs are all there."""
    record = _read_record(out, sample_id)
    if record is None or (not record.get("failed") and not (out / "faces" / f"{sample_id}.ply").is_file()):
        return None
    return record.get("signature")


def _read_record(out: Path, sample_id: str) -> dict[str, Any] | None:
    """A scan's QC record, or None where there is none (or it cannot be read: registered again)."""
    import json

    try:
        return json.loads((out / "registration" / f"{sample_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class _Pool:
    """Runs a function over tasks in worker processes (or in this one for one job), in order."""

    def __init__(self, n_jobs: int, state: dict[str, Any]) -> None:
        self.n_jobs, self.state, self.executor = n_jobs, state, None

    def __enter__(self):
        if self.n_jobs > 1:
            self.executor = ProcessPoolExecutor(self.n_jobs, initializer=_start_worker, initargs=(self.state,))
        else:
            _start_worker(self.state)
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def map(self, fn, tasks):
        if self.executor is None:
            return map(fn, tasks)
        return self.executor.map(fn, tasks)


def _start_worker(state: dict[str, Any]) -> None:
    from threadpoolctl import threadpool_limits

    _WORKER.update(state)
    if state.get("limit_threads", True):
        threadpool_limits(1)  # one process per core: BLAS threads would only contend


def _each(run: _Pool, fn, tasks: list, stage: str, progress: Any):
    if progress is not None and tasks:
        progress(stage, 0, len(tasks))
    for done, result in enumerate(run.map(fn, tasks), start=1):
        if progress is not None:
            progress(stage, done, len(tasks))
        yield result


def _check_all(run: _Pool, jobs: list[ScanJob], progress: Any) -> None:
    """Read and check every scan before registering any: a bad input stops the run, with one line."""
    errors = [e for e in _each(run, _check_one, jobs, "checking scans", progress) if e]
    if errors:
        more = f" (and {len(errors) - 1} more scans with errors)" if len(errors) > 1 else ""
        raise GenofaceError(errors[0] + more)


def _check_one(job: ScanJob) -> str | None:
    try:
        read_scan(job, _WORKER["units"], _WORKER["template"])
    except GenofaceError as e:
        return str(e)
    return None


def _register_one(task: tuple[ScanJob, str]) -> dict[str, Any]:
    """Register one scan and write its files: the render, the face (if it passed), then its record."""
    import time

    job, sig = task
    template, out = _WORKER["template"], _WORKER["out"]
    start = time.perf_counter()
    vertices, triangles, marks = read_scan(job, _WORKER["units"], template)
    reg = register_scan(vertices, triangles, template, marks, _WORKER["options"])
    record = {
        "sample_id": job.sample_id,
        "scan": str(job.scan),
        "landmarks": None if job.landmarks is None else str(job.landmarks),
        "scan_vertices": len(vertices),
        "pose": "landmarks" if marks else "principal axes",
        **reg.qc(),
        "seconds": round(time.perf_counter() - start, 2),
        "signature": sig,
    }
    scan_out = vertices @ reg.scan_to_output[:3, :3].T + reg.scan_to_output[:3, 3]
    render = _render_mesh(scan_out, triangles)
    png = render_overlay_png(
        render, (reg.vertices, template.triangles), np.minimum(reg.distance_mm, _HEATMAP_MM), vmax=_HEATMAP_MM
    )
    atomic_write_bytes(out / "registration" / f"{job.sample_id}.png", png)
    face = out / "faces" / f"{job.sample_id}.ply"
    if reg.failed:
        face.unlink(missing_ok=True)
    else:
        tmp = face.with_name(f".{face.stem}.tmp.ply")
        write_mesh(tmp, reg.vertices, template.triangles)
        os.replace(tmp, face)
    tmp = out / "registration" / f".{job.sample_id}.json.tmp"
    write_json(tmp, record)
    os.replace(tmp, out / "registration" / f"{job.sample_id}.json")
    return record


def _render_mesh(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(triangles) <= _RENDER_TRIANGLES:
        return vertices, triangles
    import fast_simplification

    v, t = fast_simplification.simplify(
        vertices.astype(np.float32), triangles.astype(np.int32), target_count=_RENDER_TRIANGLES
    )
    return np.asarray(v, dtype=np.float64), np.asarray(t, dtype=np.int64)


_QC_COLUMNS = (
    "sample_id",
    "failed",
    "mean_mm",
    "p95_mm",
    "far_share",
    "pose",
    "scan_vertices",
    "seconds",
    "reason",
    "scan",
)


def _write_qc_table(path: Path, records: list[dict[str, Any]]) -> None:
    import pandas as pd

    table = pd.DataFrame([{k: r.get(k) for k in _QC_COLUMNS} for r in records], columns=list(_QC_COLUMNS))
    text = table.to_csv(sep="\t", index=False, float_format="%.4g")
    atomic_write_bytes(path, text.encode())


# ---- the report and the cohort -------------------------------------------------------------------


def write_report(
    result: RegisterResult, template: Template, template_name: str, units: str, options: RegistrationOptions, path=None
) -> Path:
    """The registration report (default ``OUT/report.html``); returns its path."""
    pictures = {r["sample_id"]: result.out / "registration" / f"{r['sample_id']}.png" for r in result.records}
    settings = {
        "template": template_name,
        "template_vertices": len(template.vertices),
        "units": units,
        "near_mm": options.near_mm,
        "max_far_share": options.max_far_share,
        "max_mean_mm": options.max_mean_mm,
    }
    result.report = write_registration_report(
        path or result.out / "report.html", result.records, pictures, settings=settings
    )
    return result.report


def write_cohort(
    result: RegisterResult, template: Template, genotypes: str | os.PathLike, covariates: str | os.PathLike
) -> Path:
    """Make ``result.out`` a cohort directory: cohort.json, the genotypes and covariates beside the
    faces. Every scan must have passed, and the three sources must name the same people; both
    are checked (by loading the cohort) before any cohort file appears in the folder."""
    from genoface.cohort import COHORT_FORMAT_VERSION, load_cohort

    out = result.out
    if result.failed:
        raise GenofaceError(
            f"cohort not written: the scans of {_some(result.failed)} failed quality control (see {result.report}); "
            "fix those scans, or remove the people from the genotypes and covariates"
        )
    files = _genotype_sources(Path(genotypes))
    staging = out / ".cohort.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for src, name in files:
            shutil.copyfile(src, staging / name)
        shutil.copyfile(covariates, staging / "covariates.tsv")
        shutil.copyfile(out / "template.ply", staging / "template.ply")
        (staging / "faces").symlink_to(Path("..") / "faces", target_is_directory=True)
        meta = {
            "format_version": COHORT_FORMAT_VERSION,
            "name": out.resolve().name,
            "n": len(result.records),
            "units": "mm",
            "simulated": False,
            "template_landmarks": {k: int(v) for k, v in template.landmarks.items()},
            "registration": {"report": os.path.relpath(result.report, out), "scans": len(result.records)},
        }
        write_json(staging / "cohort.json", meta)
        load_cohort(staging, use_cache=False)  # the join of genotypes, faces and covariates, checked
        for src, name in [*files, (None, "covariates.tsv"), (None, "cohort.json")]:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.cohort = out
    return out


def _genotype_sources(path: Path) -> list[tuple[Path, str]]:
    """(source, name in the cohort) of a VCF/BCF (and its index) or a PLINK fileset."""
    name = path.name.lower()
    if name.endswith(".bed") or (not path.exists() and Path(f"{path}.bed").is_file()):
        prefix = path.with_suffix("") if name.endswith(".bed") else path
        files = [(Path(f"{prefix}.{ext}"), f"genotypes.{ext}") for ext in ("bed", "bim", "fam")]
    elif name.endswith((".vcf.gz", ".vcf", ".bcf")):
        kind = next(s for s in (".vcf.gz", ".vcf", ".bcf") if name.endswith(s))
        files = [(path, f"genotypes{kind}")]
        files += [(Path(f"{path}{i}"), f"genotypes{kind}{i}") for i in (".tbi", ".csi") if Path(f"{path}{i}").is_file()]
    else:
        raise GenofaceError(f"{path}: --genotypes must be a VCF/BCF (.vcf.gz, .vcf, .bcf) or a PLINK .bed (or prefix)")
    lacking = [str(src) for src, _ in files if not src.is_file()]
    if lacking:
        raise GenofaceError(f"{lacking[0]}: genotype file does not exist")
    return files


def _some(items: list[str], k: int = 5) -> str:
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def run_register(
    template: str | os.PathLike,
    scans: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    landmarks: str | os.PathLike | None = None,
    template_landmarks: str | os.PathLike | None = None,
    shape_model: str | os.PathLike | None = None,
    units: str = "mm",
    report: str | os.PathLike | None = None,
    genotypes: str | os.PathLike | None = None,
    covariates: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    options: RegistrationOptions | None = None,
    progress: Any = None,
) -> RegisterResult:
    """``genoface register`` whole: scans registered, the report, and the cohort when genotypes
    and covariates are given. Scans that fail quality control end the run with an error naming
    them, after the others and the report are written."""
    if (genotypes is None) != (covariates is None):
        raise GenofaceError("--genotypes and --covariates go together: give both to write a cohort, or neither")
    if genotypes is not None:
        _genotype_sources(Path(genotypes))
        if not Path(covariates).is_file():
            raise GenofaceError(f"{covariates}: covariates file does not exist")
    tpl = load_template(template, template_landmarks, shape_model)
    jobs = find_scans(scans, landmarks)
    if landmarks is not None and not tpl.landmarks:
        raise GenofaceError(
            f"{template}: the template has no landmarks; give them with --template-landmarks (JSON or iBUG TOML)"
        )
    options = options or RegistrationOptions()
    result = register_scans(tpl, jobs, out, units=units, options=options, n_jobs=n_jobs, progress=progress)
    write_report(result, tpl, str(template), units, options, report)
    if genotypes is not None:
        write_cohort(result, tpl, genotypes, covariates)
    elif result.failed:
        reasons = {r["sample_id"]: r["reason"] for r in result.records if r["failed"]}
        first = result.failed[0]
        raise GenofaceError(
            f"{len(result.failed)} of {len(result.records)} scans failed quality control and were not written "
            f"({_some(result.failed)}; {first}: {reasons[first]}); see {result.report}"
        )
    return result
