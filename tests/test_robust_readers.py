"""Readers of user files cannot be crashed, and the command line never shows a traceback.

Every reader of a user's file must answer any input with a result or one :class:`GenofaceError`
(one line, naming the file), never another exception and never a hang. The properties here start
from valid files and mutate one of them (truncate, flip and insert bytes, delete / duplicate /
swap lines and columns, NUL and non-UTF-8 bytes, tabs for spaces, CR and CRLF line ends,
megabyte fields, empty fields, huge numbers, NaN and inf; for model directories also JSON values
of the wrong type and arrays of the wrong shape or dtype). Each example runs under an alarm, so a
hang fails it.

The suite runs a few dozen examples per reader (profile ``genoface-readers``, derandomized);
``bench/fuzz_readers.py`` (``make fuzz``) runs the same :data:`TARGETS` for minutes.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import gzip
import io
import json
import math
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from genoface.core.errors import GenofaceError

# ---- hypothesis profiles ----------------------------------------------------------------------------

#: Examples per reader in the suite (GENOFACE_FUZZ_EXAMPLES overrides).
SUITE_EXAMPLES = int(os.environ.get("GENOFACE_FUZZ_EXAMPLES", "50"))
#: Seconds one input may take before it counts as a hang.
TIME_LIMIT = float(os.environ.get("GENOFACE_FUZZ_TIME_LIMIT", "20"))

settings.register_profile(
    "genoface-readers",
    max_examples=SUITE_EXAMPLES,
    derandomize=True,  # the same inputs on every run: the suite stays deterministic
    database=None,
    deadline=None,  # a hang is caught by the alarm in check_input, not by hypothesis' deadline
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
#: For readers with known crashes (xfail): no shrinking, which would cost the suite minutes.
settings.register_profile(
    "genoface-readers-known-bugs",
    parent=settings.get_profile("genoface-readers"),
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
)

# ---- mutations -----------------------------------------------------------------------------------------

HUGE = 1 << 20
#: Tokens inserted into files or put in place of a field.
TOKENS: list[bytes] = [
    b"", b"NA", b".", b"-", b"0", b"-1", b"1", b"2", b"3", b"0.5", b"nan", b"NaN", b"inf", b"-inf", b"Infinity",
    b"1e309", b"-1e309", b"1e-320", b"9" * 25, b"-" + b"9" * 25, b"9" * 400, b"0x1F", b"1_000", b"+5", b"1,5",
    b"\x00", b"\xff\xfe", b"\xc3\xa9", b"\xe2\x80\xa8", b"\x85", b"\x1b[31m", b"[/]", b"[bold]", b'"', b"'", b"#",
    b"##", b"\t", b" ", b"  ", b"\r", b"\n", b"\r\n", b"\x0c", b"\x0b", b"A", b"AC", b"T", b"--", b"DI", b"chrX",
    b"X", b"Y", b"23", b"25", b"MT", b"chr1", b"rs1", b"./.", b"0/1", b"1|0", b"0/2", b".|.", b"1/1/1", b"1", b"GT",
    b"GT:DP", b"sample_id", b"sex", b"F", b"M", b"true", b"end_header", b"element vertex 99999999999",
    b"element vertex -5", b"property list uchar int vertex_indices", b"property double x", b"f 1 2 99999",
    b"f -1 -2 -3", b"f 0 0 0", b"v 1 2", b"v nan 0 0", b"v 1e400 0 0", b"vt 0 0", b"format ascii 1.0",
    b"format binary_big_endian 1.0", b"ply", b"#CHROM", b"##fileformat=VCFv4.2", b"effect_weight", b"rsID",
]  # fmt: skip
_BIG = {"huge-text": b"A" * HUGE, "huge-number": b"9" * HUGE, "huge-spaces": b" " * HUGE}

token = st.one_of(
    st.sampled_from(TOKENS),
    st.binary(min_size=1, max_size=6),
    st.sampled_from(sorted(_BIG)).map(lambda k: _BIG[k]),
)
index = st.integers(min_value=0, max_value=10**6)
scope = st.one_of(st.none(), index)  # None: every line
fraction = st.floats(min_value=0.0, max_value=1.0)

byte_ops = st.one_of(
    st.tuples(st.just("truncate"), fraction),
    st.tuples(st.just("flip"), index, st.integers(1, 255)),
    st.tuples(st.just("insert"), index, token),
    st.tuples(st.just("delete_bytes"), index, st.integers(1, 64)),
    st.tuples(st.just("dup_bytes"), index, st.integers(1, 64)),
    st.tuples(st.just("empty")),
)
text_ops = st.one_of(
    byte_ops,
    st.tuples(st.just("delete_line"), index),
    st.tuples(st.just("dup_line"), index),
    st.tuples(st.just("swap_lines"), index, index),
    st.tuples(st.just("insert_line"), index, token),
    st.tuples(st.just("delete_field"), scope, index),
    st.tuples(st.just("dup_field"), scope, index),
    st.tuples(st.just("swap_fields"), scope, index, index),
    st.tuples(st.just("set_field"), scope, index, token),
    st.tuples(st.just("line_ends"), st.sampled_from(["crlf", "cr", "mixed", "none-at-end"])),
    st.tuples(st.just("separators"), st.sampled_from(["tab-to-space", "space-to-tab", "double-tabs"])),
    st.tuples(st.just("encoding"), st.sampled_from(["utf8-bom", "utf16", "latin1-e-acute"])),
)
JSON_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2, 3.5, 2**31, 10**30, -(10**30), 1e308, -1e308, math.nan, math.inf, -math.inf,
    "", "x", "cuda:7", "A" * 1000, [], [1], [1.5, 2.5], [0.0, 0.0], ["a", "b"], [[1, 2]], [None, None], {}, {"a": 1},
]  # fmt: skip
json_ops = st.one_of(
    st.tuples(st.just("json_set"), index, st.sampled_from(range(len(JSON_VALUES)))),
    st.tuples(st.just("json_delete"), index),
    st.tuples(st.just("json_add"), index, st.sampled_from(["extra", "params", "state", "model", "x" * 300])),
)
NPZ_CHANGES = [
    "delete", "as_text", "empty", "ravel", "first_column", "transpose", "scalar", "nan", "inf", "huge", "negative",
    "as_int8", "as_bool", "as_float16", "add_row", "drop_row", "shuffle",
]  # fmt: skip
npz_ops = st.one_of(
    st.tuples(st.just("npz_change"), index, st.sampled_from(NPZ_CHANGES)),
    st.tuples(st.just("npz_add"), st.sampled_from(["extra", "_panel_extra", "net.extra"])),
)

#: Mutation strategies by kind of file.
STRATEGIES = {
    "bytes": st.lists(byte_ops, min_size=1, max_size=4),
    "text": st.lists(text_ops, min_size=1, max_size=4),
    "json": st.lists(st.one_of(json_ops, json_ops, text_ops), min_size=1, max_size=4),
    "npz": st.lists(st.one_of(npz_ops, npz_ops, byte_ops), min_size=1, max_size=3),
}


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _sep(line: bytes) -> bytes:
    return b"\t" if b"\t" in line else b" "


def _on_fields(data: bytes, where: int | None, fn: Callable[[list[bytes]], list[bytes]]) -> bytes:
    lines = _lines(data)
    chosen = range(len(lines)) if where is None else [where % len(lines)]
    for i in chosen:
        sep = _sep(lines[i])
        lines[i] = sep.join(fn(lines[i].split(sep)))
    return b"\n".join(lines)


def _delete_at(fields: list[bytes], k: int) -> list[bytes]:
    return fields[: k % len(fields)] + fields[k % len(fields) + 1 :]


def _dup_at(fields: list[bytes], k: int) -> list[bytes]:
    k %= len(fields)
    return fields[: k + 1] + fields[k:]


def _swap(items: list, a: int, b: int) -> list:
    items = list(items)
    a, b = a % len(items), b % len(items)
    items[a], items[b] = items[b], items[a]
    return items


def _set_at(fields: list[bytes], k: int, value: bytes) -> list[bytes]:
    fields = list(fields)
    fields[k % len(fields)] = value
    return fields


def _json_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (containers before their contents), in a fixed order."""
    paths = [prefix]
    if isinstance(obj, dict):
        for k in obj:
            paths += _json_paths(obj[k], (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            paths += _json_paths(v, (*prefix, i))
    return paths


def _json_op(data: bytes, op: tuple) -> bytes:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return data  # text damaged by an earlier mutation: nothing structural to change
    paths = _json_paths(doc)
    path = paths[op[1] % len(paths)]
    if op[0] == "json_set":
        value = JSON_VALUES[op[2]]
        if not path:
            doc = value
        else:
            parent = functools.reduce(lambda o, k: o[k], path[:-1], doc)
            parent[path[-1]] = value
    elif op[0] == "json_delete" and path:
        parent = functools.reduce(lambda o, k: o[k], path[:-1], doc)
        del parent[path[-1]]
    elif op[0] == "json_add":
        target = functools.reduce(lambda o, k: o[k], path, doc)
        if isinstance(target, dict):
            target[op[2]] = 1
        elif isinstance(target, list):
            target.append(op[2])
    return json.dumps(doc).encode()


def _npz_change(a: np.ndarray, how: str) -> np.ndarray | None:
    if how == "delete":
        return None
    if how == "as_text":
        return a.astype(str)
    if how == "empty":
        return a.reshape(-1)[:0]
    if how == "ravel":
        return a.reshape(-1)
    if how == "first_column":
        return a[..., :1] if a.ndim else a
    if how == "transpose":
        return a.T
    if how == "scalar":
        return np.asarray(1.0)
    if how in ("nan", "inf", "huge", "negative"):
        value = {"nan": np.nan, "inf": np.inf, "huge": 1e300, "negative": -1}[how]
        return (
            np.full(a.shape, value)
            if a.dtype.kind in "fc" or how in ("nan", "inf", "huge")
            else np.full(a.shape, value, dtype=a.dtype)
        )
    if how == "as_int8":
        return a.astype(np.int8) if a.dtype.kind in "fiub" else a
    if how == "as_bool":
        return a.astype(bool) if a.dtype.kind in "fiub" else a
    if how == "as_float16":
        return a.astype(np.float16) if a.dtype.kind in "fiu" else a
    if how == "add_row":
        return np.concatenate([a, a[:1]]) if a.ndim and len(a) else a
    if how == "drop_row":
        return a[1:] if a.ndim else a
    if how == "shuffle":
        return a[::-1] if a.ndim else a
    raise AssertionError(how)


def _npz_op(data: bytes, op: tuple) -> bytes:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception:
        return data  # bytes damaged by an earlier mutation
    if op[0] == "npz_change" and arrays:
        key = sorted(arrays)[op[1] % len(arrays)]
        new = _npz_change(arrays[key], op[2])
        if new is None:
            del arrays[key]
        else:
            arrays[key] = new
    elif op[0] == "npz_add":
        arrays[op[1]] = np.arange(3.0)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    """``data`` with the mutations ``ops`` applied in order (see :data:`STRATEGIES`)."""
    for op in ops:
        name, args = op[0], op[1:]
        n = len(data)
        if name == "truncate":
            data = data[: int(n * args[0])]
        elif name == "flip" and n:
            i = args[0] % n
            data = data[:i] + bytes([data[i] ^ args[1]]) + data[i + 1 :]
        elif name == "insert":
            i = args[0] % (n + 1)
            data = data[:i] + args[1] + data[i:]
        elif name == "delete_bytes" and n:
            i = args[0] % n
            data = data[:i] + data[i + args[1] :]
        elif name == "dup_bytes" and n:
            i = args[0] % n
            data = data[: i + args[1]] + data[i:]
        elif name == "empty":
            data = b""
        elif name == "delete_line":
            lines = _lines(data)
            data = b"\n".join(_delete_at(lines, args[0]))
        elif name == "dup_line":
            data = b"\n".join(_dup_at(_lines(data), args[0]))
        elif name == "swap_lines":
            data = b"\n".join(_swap(_lines(data), args[0], args[1]))
        elif name == "insert_line":
            lines = _lines(data)
            i = args[0] % (len(lines) + 1)
            data = b"\n".join([*lines[:i], args[1], *lines[i:]])
        elif name == "delete_field":
            data = _on_fields(data, args[0], lambda f, k=args[1]: _delete_at(f, k))
        elif name == "dup_field":
            data = _on_fields(data, args[0], lambda f, k=args[1]: _dup_at(f, k))
        elif name == "swap_fields":
            data = _on_fields(data, args[0], lambda f, a=args[1], b=args[2]: _swap(f, a, b))
        elif name == "set_field":
            data = _on_fields(data, args[0], lambda f, k=args[1], v=args[2]: _set_at(f, k, v))
        elif name == "line_ends":
            kind = args[0]
            if kind == "crlf":
                data = data.replace(b"\n", b"\r\n")
            elif kind == "cr":
                data = data.replace(b"\n", b"\r")
            elif kind == "mixed":
                lines = _lines(data)
                data = b"".join(ln + (b"\r\n" if i % 2 else b"\n") for i, ln in enumerate(lines[:-1])) + lines[-1]
            else:
                data = data.rstrip(b"\n")
        elif name == "separators":
            kind = args[0]
            if kind == "tab-to-space":
                data = data.replace(b"\t", b" ")
            elif kind == "space-to-tab":
                data = data.replace(b" ", b"\t")
            else:
                data = data.replace(b"\t", b"\t\t")
        elif name == "encoding":
            kind = args[0]
            if kind == "utf8-bom":
                data = b"\xef\xbb\xbf" + data
            elif kind == "utf16":
                data = data.decode("latin-1").encode("utf-16")
            else:
                data = data.replace(b"A", b"\xe9", 3)
        elif name.startswith("json_"):
            data = _json_op(data, op)
        elif name.startswith("npz_"):
            data = _npz_op(data, op)
    return data


# ---- valid seed files ---------------------------------------------------------------------------------

SEED_VCF = """\
##fileformat=VCFv4.2
##contig=<ID=1,length=1000000>
##contig=<ID=X,length=1000000>
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4
1\t100\trs1\tA\tG\t50\tPASS\tAF=0.5\tGT:DP\t0/1:10\t1/1:12\t0/0:8\t./.:0
1\t200\trs2\tC\tT\t.\t.\t.\tGT\t0|1\t1|0\t0|0\t1|1
1\t300\t.\tG\tA\t.\t.\t.\tGT\t0/0\t0/1\t./1\t1/1
1\t400\trs4\tA\tAT\t.\t.\t.\tGT\t0/1\t0/0\t0/0\t0/0
1\t500\trs5\tT\tC,G\t.\t.\t.\tGT\t0/2\t0/1\t0/0\t1/1
X\t600\trs6\tA\tG\t.\t.\t.\tGT\t0/1\t1\t0\t1/1
X\t700\trs7\tC\tT\t.\t.\t.\tGT\t0/0\t0\t1\t./.
"""

SEED_23ANDME = """\
# This data file generated by 23andMe at: Mon Jan 01 00:00:00 2024
#
# rsid\tchromosome\tposition\tgenotype
rs1\t1\t1000\tAG
rs2\t1\t2000\tGG
rs3\t2\t3000\tTC
rs4\t2\t4000\t--
rs7\tX\t7000\tC
rs9\tMT\t9000\tA
rs10\t4\t10000\tDI
"""

SEED_ANCESTRY = """\
#AncestryDNA raw data download
#Genotypes are reported on the forward (+) strand with respect to build 37
rsid\tchromosome\tposition\tallele1\tallele2
rs1\t1\t1000\tA\tG
rs2\t1\t2000\tG\tG
rs4\t2\t4000\t0\t0
rs7\t23\t7000\tC\tC
rs9\t26\t9000\tA\tA
rs10\t4\t10000\tD\tI
"""

SEED_PGS = """\
###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring for additional information
#format_version=2.0
#pgs_id=PGS999999
#pgs_name=toy_height
#trait_reported=Height
#genome_build=GRCh37
#HmPOS_build=GRCh37
#variants_number=4
#weight_type=NR
rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tallelefrequency_effect\thm_rsID\thm_chr\thm_pos
rs1\t1\t1000\tA\tG\t0.5\t0.2\trs1\t1\t1000
rs2\t1\t2000\tC\tT\t-0.3\t0.4\trs2\t1\t2000
rs3\t2\t3000\tA\tC\t0.8\t\t\t2\t3000
rs4\tX\t4000\tG\tA\t1e-3\t0.25\trs4\tX\t4000
"""

SEED_COVARIATES = """\
sample_id\tsex\tage\tbmi\tpopulation\teye_colour\theight_cm\tsmoker
P1\tF\t34.5\t22.1\tCEU\tblue\t165\t0
P2\tM\tNA\t27\tYRI\tbrown\t180.2\t1
P3\tf\t61\t\tCHB\tNA\tNA\t0
"""


@functools.cache
def _genotype_arrays():
    rng = np.random.default_rng(3)
    n, m = 5, 12
    g = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    g[0, 2] = g[3, 7] = -1
    variants = pd.DataFrame(
        {
            "chrom": ["1"] * 6 + ["2"] * 4 + ["X"] * 2,
            "pos": np.arange(1, m + 1) * 100,
            "id": [f"rs{j}" for j in range(m)],
            "ref": list("ACGTACGTACGT"),
            "alt": list("GTACGTACGTAC"),
        }
    )
    return [f"S{i}" for i in range(n)], g, variants


@functools.cache
def seed_bcf() -> dict[str, bytes]:
    """SEED_VCF as uncompressed BCF (mutations then hit the binary records, not the BGZF blocks)."""
    import tempfile

    import cyvcf2

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "g.vcf").write_text(SEED_VCF)
        vcf = cyvcf2.VCF(str(Path(d) / "g.vcf"))
        out = cyvcf2.Writer(str(Path(d) / "g.bcf"), vcf, "wbu")
        for rec in vcf:
            out.write_record(rec)
        out.close()
        vcf.close()
        return {"g.bcf": (Path(d) / "g.bcf").read_bytes()}


@functools.cache
def seed_plink() -> dict[str, bytes]:
    import tempfile

    from genoface.io import write_plink

    ids, g, variants = _genotype_arrays()
    with tempfile.TemporaryDirectory() as d:
        write_plink(Path(d) / "g", ids, g, variants, sex=["M", "F", "F", "M", "F"])
        return {f"g{ext}": (Path(d) / f"g{ext}").read_bytes() for ext in (".bed", ".bim", ".fam")}


@functools.cache
def _sphere():
    import trimesh

    return trimesh.creation.icosphere(subdivisions=0, radius=80.0)


@functools.cache
def seed_meshes() -> dict[str, bytes]:
    import tempfile

    from genoface.io import write_mesh

    s = _sphere()
    with tempfile.TemporaryDirectory() as d:
        write_mesh(Path(d) / "b.ply", s.vertices, s.faces)
        binary = (Path(d) / "b.ply").read_bytes()
    ascii_ply = s.export(file_type="ply", encoding="ascii")
    obj = s.export(file_type="obj", include_normals=False)
    return {
        "binary.ply": binary,
        "ascii.ply": ascii_ply if isinstance(ascii_ply, bytes) else ascii_ply.encode(),
        "face.obj": obj.encode() if isinstance(obj, str) else obj,
    }


@functools.cache
def model_cohort():
    """A tiny cohort (48 people) the model targets are trained on, and 3 people to predict."""
    from conftest import make_tiny_cohort
    from genoface.io import GenotypeData

    cohort = make_tiny_cohort(seed=5, n=48)
    people = GenotypeData(cohort.sample_ids[:3], cohort.genotypes[:3], cohort.variants)
    return cohort, people, cohort.covariates.iloc[:3]


#: Models whose directories the suite fuzzes (the bench adds the slower ones).
SUITE_MODELS = ("mean", "demographic", "lippert")
BENCH_MODELS = (*SUITE_MODELS, "sero", "difface")
_FAST_MODEL_PARAMS = {
    "lippert": {"n_snps": 10, "n_shape_components": 5},
    "sero": {"n_snps": 10, "n_shape_components": 5},
    "demographic": {"n_shape_components": 5},
    "difface": {
        "n_snps": 10, "max_tokens": 4, "dim": 8, "heads": 2, "latent_dim": 4, "channels": (4, 4), "factors": (2, 2), "epochs": 1,
        "prior_epochs": 1, "batch_size": 16, "diffusion_steps": 10, "ddim_steps": 2,
    },
}  # fmt: skip


@functools.cache
def seed_model(name: str) -> dict[str, bytes]:
    """The files of a saved model directory (trait predictor left out), by relative path."""
    import tempfile

    from genoface.models import make_model

    cohort, _, _ = model_cohort()
    model = make_model(name, **_FAST_MODEL_PARAMS.get(name, {})).fit(cohort)
    with tempfile.TemporaryDirectory() as d:
        model.save(Path(d) / "m")
        return {
            str(p.relative_to(Path(d) / "m")): p.read_bytes() for p in sorted((Path(d) / "m").rglob("*")) if p.is_file()
        }


@functools.cache
def seed_traits() -> dict[str, bytes]:
    """The files of a saved trait predictor (what `genoface train` writes into a model's traits/)."""
    import tempfile

    from genoface.traits import TraitPredictor

    cohort, _, _ = model_cohort()
    predictor = TraitPredictor(random_state=0).fit(cohort)
    with tempfile.TemporaryDirectory() as d:
        predictor.save(Path(d) / "t")
        return {p.name: p.read_bytes() for p in sorted((Path(d) / "t").iterdir())}


def _predict_traits(folder: Path):
    from genoface.traits import load_trait_predictor

    _, people, _ = model_cohort()
    return load_trait_predictor(folder).predict(people).records


def _predict_model(folder: Path) -> np.ndarray:
    """Load the model directory and predict 3 people with and without covariates: the faces must
    be (3, V, 3) and finite (a damaged model must not predict NaN faces silently)."""
    from genoface.models import FaceModel

    model = FaceModel.load(folder)  # a GenofaceError here must name the model's folder
    cohort, people, covariates = model_cohort()
    for cov in (None, covariates):
        try:
            faces = model.predict(people, cov)
        except GenofaceError as exc:  # damage no check can see (a shuffled panel): about the genotypes
            assert "\n" not in str(exc)
            return None
        assert isinstance(faces, np.ndarray) and faces.shape == (3, cohort.n_vertices, 3), getattr(
            faces, "shape", faces
        )
        assert np.isfinite(faces).all(), "a loaded model predicted NaN or infinite faces"
    return faces


# ---- targets -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One reader fed one mutated file of a valid fileset.

    ``files`` gives the valid fileset (relative path -> bytes); ``mutated`` names the file that is
    mutated; ``call(folder)`` runs the reader on the folder holding the fileset; ``kind`` picks the
    mutations (:data:`STRATEGIES`); ``compress`` gzips the mutated text (the mutations act on the
    text inside). ``owner``: who fixes this reader's crashes, where it is not this test's author.
    """

    name: str
    files: Callable[[], dict[str, bytes]]
    mutated: str
    call: Callable[[Path], Any]
    kind: str = "text"
    compress: bool = False
    owner: str = ""
    isolate: bool = False  # run each input in a forked child: the reader's C library may crash the process


def _read_genotypes(file: str) -> Callable[[Path], Any]:
    def call(folder: Path):
        from genoface.io import read_genotypes

        return read_genotypes(folder / file)

    return call


def _read_mesh(file: str) -> Callable[[Path], Any]:
    def call(folder: Path):
        from genoface.io import read_mesh

        return read_mesh(folder / file)

    return call


def _read_mesh_vertices(folder: Path):
    from genoface.io import read_mesh_vertices

    return read_mesh_vertices([folder / "good.ply", folder / "binary.ply"])


def _read_covariates(folder: Path):
    from genoface.io import read_covariates

    return read_covariates(folder / "covariates.tsv")


def _read_consumer(file: str) -> Callable[[Path], Any]:
    def call(folder: Path):
        from genoface.genetics import read_consumer_file

        return read_consumer_file(folder / file)

    return call


def _read_scoring(file: str) -> Callable[[Path], Any]:
    def call(folder: Path):
        from genoface.traits import read_scoring_file

        return read_scoring_file(folder / file)

    return call


def _model_targets(names: tuple[str, ...]) -> list[Target]:
    out = []
    for name in names:
        files = functools.partial(seed_model, name)
        out.append(Target(f"model_json_{name}", files, "model.json", _predict_model, kind="json"))
        out.append(Target(f"model_npz_{name}", files, "weights.npz", _predict_model, kind="npz"))
    return out


def _meshes_with_good() -> dict[str, bytes]:
    files = seed_meshes()
    return {"good.ply": files["binary.ply"], "binary.ply": files["binary.ply"]}


_GENOTYPES, _CONSUMER, _PGS = "io/genotypes.py", "genetics/_consumer.py", "traits/_pgs.py"
_TRAITS = "traits/_predictor.py"

#: Every target, by name: the suite runs those with ``suite`` true, the bench all of them.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target(
            "vcf",
            lambda: {"g.vcf": SEED_VCF.encode()},
            "g.vcf",
            _read_genotypes("g.vcf"),
            owner=_GENOTYPES,
            isolate=True,
        ),
        Target(
            "vcf_gz",
            lambda: {"g.vcf.gz": SEED_VCF.encode()},
            "g.vcf.gz",
            _read_genotypes("g.vcf.gz"),
            compress=True,
            owner=_GENOTYPES,
            isolate=True,
        ),
        Target(
            "vcf_gz_bytes",
            lambda: {"g.vcf.gz": gzip.compress(SEED_VCF.encode(), mtime=0)},
            "g.vcf.gz",
            _read_genotypes("g.vcf.gz"),
            kind="bytes",
            owner=_GENOTYPES,
            isolate=True,
        ),
        Target("bcf", seed_bcf, "g.bcf", _read_genotypes("g.bcf"), kind="bytes", owner=_GENOTYPES, isolate=True),
        Target("plink_bim", seed_plink, "g.bim", _read_genotypes("g.bed"), owner=_GENOTYPES),
        Target("plink_fam", seed_plink, "g.fam", _read_genotypes("g.bed"), owner=_GENOTYPES),
        Target("plink_bed", seed_plink, "g.bed", _read_genotypes("g.bed"), kind="bytes", owner=_GENOTYPES),
        Target("covariates", lambda: {"covariates.tsv": SEED_COVARIATES.encode()}, "covariates.tsv", _read_covariates),
        Target("mesh_ply_binary", seed_meshes, "binary.ply", _read_mesh("binary.ply")),
        Target("mesh_ply_ascii", seed_meshes, "ascii.ply", _read_mesh("ascii.ply")),
        Target("mesh_obj", seed_meshes, "face.obj", _read_mesh("face.obj")),
        Target("mesh_vertices", _meshes_with_good, "binary.ply", _read_mesh_vertices),
        *_model_targets(BENCH_MODELS),
        Target("traits_json", seed_traits, "traits.json", _predict_traits, kind="json", owner=_TRAITS),
        Target("traits_npz", seed_traits, "traits.npz", _predict_traits, kind="npz", owner=_TRAITS),
        Target(
            "consumer_23andme",
            lambda: {"me.txt": SEED_23ANDME.encode()},
            "me.txt",
            _read_consumer("me.txt"),
            owner=_CONSUMER,
        ),
        Target(
            "consumer_ancestry",
            lambda: {"anc.txt": SEED_ANCESTRY.encode()},
            "anc.txt",
            _read_consumer("anc.txt"),
            owner=_CONSUMER,
        ),
        Target("pgs", lambda: {"PGS1.txt": SEED_PGS.encode()}, "PGS1.txt", _read_scoring("PGS1.txt"), owner=_PGS),
        Target(
            "pgs_gz",
            lambda: {"PGS1.txt.gz": SEED_PGS.encode()},
            "PGS1.txt.gz",
            _read_scoring("PGS1.txt.gz"),
            compress=True,
            owner=_PGS,
        ),
    ]
}
SUITE_TARGETS = [n for n in TARGETS if not n.startswith("model_") or n.rsplit("_", 1)[1] in SUITE_MODELS]

#: Readers with known crashes (xfail until fixed): none today; the inputs that crashed readers
#: are regression tests in :data:`CRASH_INPUTS`.
KNOWN_CRASHES: dict[str, str] = {}


# ---- running one input ---------------------------------------------------------------------------------


class Hang(Exception):
    """A reader took longer than :data:`TIME_LIMIT` on one input."""


class Crash(Exception):
    """The reader killed the process (a signal such as SIGSEGV), or raised in a forked child."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`Hang` in the main thread after ``seconds``; a hang inside C code that never
    returns to Python is caught by faulthandler's watchdog (the process exits with a traceback)."""

    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 4 + 30, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        faulthandler.cancel_dump_traceback_later()


def run_isolated(call: Callable[[Path], Any], folder: Path, seconds: float) -> None:
    """``call(folder)`` in a forked child: returns if it returned, re-raises a GenofaceError with
    its message, raises :class:`Crash` for any other exception or a signal and :class:`Hang`
    (after killing the child) when it takes longer than ``seconds``."""
    import pickle
    import time
    import traceback

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_fd)
            try:
                call(folder)
                payload = ("ok", "")
            except GenofaceError as exc:
                payload = ("error", str(exc))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                origin = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
                payload = ("exception", f"{origin}: {exc}\n{traceback.format_exc()}")
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(pickle.dumps(payload))
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + seconds
    os.set_blocking(read_fd, False)
    status = None
    try:
        while True:
            with contextlib.suppress(BlockingIOError):
                chunk = os.read(read_fd, 1 << 16)
                if chunk:
                    chunks.append(chunk)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise Hang(f"no answer within {seconds:g} s")
            time.sleep(0.002)
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 1 << 16):
                chunks.append(chunk)
    finally:
        os.close(read_fd)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise _crash_class(name)(f"the reader killed the process with signal {name}")
    kind, text = pickle.loads(b"".join(chunks)) if chunks else ("exception", f"child exited {status} silently")
    if kind == "error":
        raise GenofaceError(text)
    if kind == "exception":
        raise _crash_class(text.split(":", 2)[0] + text.split(":", 2)[1])(text)


@functools.cache
def _crash_class(origin: str) -> type[Crash]:
    """One Crash subclass per origin (signal, or exception type and line in the child), so that
    hypothesis tells distinct bugs apart instead of reporting only the first."""
    return type(f"Crash[{origin}]", (Crash,), {})


#: Set by :func:`check_input` before each call, so a crash or hang can be reported with its input.
CURRENT: dict[str, Any] = {}


def write_input(target: Target, ops: list[tuple], folder: Path) -> bytes:
    """Write the fileset of ``target`` into ``folder`` with ``ops`` applied to the mutated file;
    returns the mutated file's bytes."""
    files = target.files()
    folder.mkdir(parents=True, exist_ok=True)
    data = b""
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == target.mutated:
            data = mutate(content, ops)
            content = gzip.compress(data, mtime=0) if target.compress else data
        path.write_bytes(content)
    return data


def check_input(target: Target, ops: list[tuple], base: Path) -> str:
    """Run ``target`` on one mutated input: it must return, or raise a one-line GenofaceError that
    names the file, within :data:`TIME_LIMIT`. Returns "ok" or "error" (the GenofaceError)."""
    folder = base / "input-files"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        data = write_input(target, ops, folder)
        CURRENT.update(target=target.name, ops=ops, data=data)
        try:
            if target.isolate:
                run_isolated(target.call, folder, TIME_LIMIT)
            else:
                with time_limit(TIME_LIMIT):
                    target.call(folder)
        except GenofaceError as exc:
            msg = str(exc)
            assert msg.strip() and "\n" not in msg and "\r" not in msg, f"not one line: {msg!r}"
            assert "input-files" in msg or any(Path(f).name in msg for f in target.files()), (
                f"the error does not name the file: {msg!r}"
            )
            return "error"
        return "ok"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fuzz_test(name: str):
    target = TARGETS[name]
    profile = "genoface-readers-known-bugs" if name in KNOWN_CRASHES else "genoface-readers"

    @settings(settings.get_profile(profile))
    @given(ops=STRATEGIES[target.kind])
    def run(tmp_path: Path, ops):
        check_input(target, ops, tmp_path)

    return run


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=KNOWN_CRASHES[n])) if n in KNOWN_CRASHES else n
        for n in SUITE_TARGETS
    ],
)
def test_reader_answers_any_input_with_a_result_or_one_line_error(name, tmp_path):
    _fuzz_test(name)(tmp_path)


def _traits_json(edit: Callable[[dict], Any]) -> Callable[[], list[tuple]]:
    """Mutations replacing traits.json by an edited copy (built when the test runs: the seed is
    a trained trait predictor)."""

    def ops() -> list[tuple]:
        config = json.loads(seed_traits()["traits.json"])
        edit(config)
        return [("empty",), ("insert", 0, json.dumps(config).encode())]

    return ops


def _whole(data: bytes) -> list[tuple]:
    """Mutations that replace the whole file by ``data``."""
    return [("empty",), ("insert", 0, data)]


#: Minimal inputs that crash readers owned by others (found by the properties above or by
#: bench/fuzz_readers.py): (target, mutations, reason). One with a reason is an xfail until its
#: reader is fixed; the ones fixed are plain regression tests (reason None).
CRASH_INPUTS = [
    pytest.param(
        "vcf", [("insert_line", 7, b"")], None, id="vcf-blank-line-segfault-fixed"
    ),  # a blank line in the body made cyvcf2 segfault on rec.REF (fixed in io/genotypes.py)
    pytest.param(
        "vcf_gz_bytes",
        [("truncate", 0.54296875), ("insert", 1000000, b"-")],
        None,
        id="vcf-gz-corrupt-deflate-zlib-error",
    ),
    pytest.param(
        "vcf",
        [("set_field", 7, 0, b"\x85")],
        None,
        id="vcf-chrom-not-utf8-UnicodeDecodeError",
    ),
    pytest.param(
        "vcf",
        [("set_field", 7, 3, b"\x80")],
        None,
        id="vcf-ref-not-utf8-UnicodeDecodeError",
    ),
    pytest.param(
        "vcf",
        _whole(
            b"##fileformat=VCF\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1\n"
            b"\t\t\t\t\t\t\t\tGT\t0\n0\t\t\t\t\t\t\t\tGT\t/"
        ),
        None,  # htslib segfaulted in next(VCF) on a record after one with empty CHROM and POS
        id="vcf-empty-chrom-then-bad-gt-segfault",
    ),
    pytest.param(
        "plink_bim", [("set_field", 0, 0, b"9" * 5000)], None, id="bim-chrom-5000-digits-fixed"
    ),  # chromosomes.normalize_chrom called int() on it: ValueError (limit 4,300 digits); fixed there
    pytest.param("traits_npz", [("truncate", 0.5)], None, id="traits-npz-truncated-BadZipFile"),
    pytest.param("traits_npz", [("npz_change", 0, "delete")], None, id="traits-npz-array-missing-error-names-no-file"),
    pytest.param("traits_json", [("json_set", 0, 0)], None, id="traits-json-null-AttributeError"),
    pytest.param(
        "traits_json",
        _traits_json(lambda c: c.update(panels=None)),
        None,
        id="traits-json-panels-null-TypeError",
    ),
    pytest.param(
        "traits_json",
        _traits_json(lambda c: c.update(categorical=None)),
        None,
        id="traits-json-categorical-null-AttributeError",
    ),
    pytest.param("traits_json", _traits_json(lambda c: c.pop("parts")), None, id="traits-json-no-parts-KeyError"),
]


@pytest.mark.parametrize(("name", "ops", "known"), CRASH_INPUTS)
def test_crash_inputs_found_by_fuzzing(name, ops, known, tmp_path, request):
    if known:
        request.applymarker(pytest.mark.xfail(strict=False, reason=known))
    check_input(TARGETS[name], ops() if callable(ops) else ops, tmp_path)


def test_seed_files_are_read(tmp_path):
    """Every target's unmutated fileset is valid (else the properties test only error paths)."""
    for name in SUITE_TARGETS:
        assert check_input(TARGETS[name], [], tmp_path / name) == "ok", name


def test_mutations_are_deterministic_and_bounded():
    data = SEED_COVARIATES.encode()
    ops = [("set_field", 1, 2, _BIG["huge-text"]), ("line_ends", "crlf"), ("swap_fields", None, 0, 3)]
    assert mutate(data, ops) == mutate(data, ops)
    assert HUGE < len(mutate(data, ops)) < HUGE + 2 * len(data)
    assert mutate(data, [("empty",)]) == b""


# ---- the command line: one line on stderr, non-zero exit, no partial output ------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_cohort(tmp_path_factory) -> Path:
    """A 60-person cohort directory (VCF), enough for `evaluate` to hold out 12 test people."""
    from conftest import make_tiny_cohort

    return make_tiny_cohort(seed=9, n=60).save(tmp_path_factory.mktemp("cli") / "cohort", genotype_format="vcf")


@pytest.fixture(scope="module")
def cli_model(cli_cohort, tmp_path_factory) -> Path:
    from genoface.cli import app

    out = tmp_path_factory.mktemp("cli_model") / "model"
    r = runner.invoke(app, ["train", "--cohort", str(cli_cohort), "--model", "demographic", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _invoke(*args: str):
    from genoface.cli import app

    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *needles: str) -> str:
    """Exit status 1, no traceback, and stderr ending in exactly one "error: ..." line (log
    warnings may come before it) that holds every needle."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _no_leftovers(folder: Path) -> None:
    """No temporary output (".name.tmp-*") is left beside the outputs."""
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def _copy_model(model: Path, to: Path) -> Path:
    shutil.copytree(model, to)
    return to


def _genotypes(cohort: Path) -> Path:
    return cohort / "genotypes.vcf.gz"


@pytest.mark.parametrize("size", [0, 30, 1000, -1])
def test_truncated_weights_are_one_line_error_in_predict_match_and_audit(cli_cohort, cli_model, tmp_path, size):
    model = _copy_model(cli_model, tmp_path / "M")
    weights = model / "weights.npz"
    os.truncate(weights, weights.stat().st_size - 1 if size < 0 else size)
    geno = _genotypes(cli_cohort)
    r = _invoke("predict", "--model", model, "--genotypes", geno, "--out", tmp_path / "pred")
    assert_one_line_error(r, "weights.npz", "retrain")
    r = _invoke("match", "--model", model, "--genotypes", geno, "--faces", cli_cohort, "--out", tmp_path / "ranks.tsv")
    assert_one_line_error(r, "weights.npz")
    r = _invoke("audit", "--genotypes", geno, "--candidates", cli_cohort, "--model", model, "--out", tmp_path / "audit")
    assert_one_line_error(r, "weights.npz")
    assert not (tmp_path / "pred").exists() and not (tmp_path / "ranks.tsv").exists()
    assert not (tmp_path / "audit").exists()
    _no_leftovers(tmp_path)


def test_damaged_trait_predictor_is_one_line_error_in_traits(cli_cohort, cli_model, tmp_path):
    model = _copy_model(cli_model, tmp_path / "M")
    arrays = next((model / "traits").glob("*.npz"))
    os.truncate(arrays, 1000)
    r = _invoke("traits", "--genotypes", _genotypes(cli_cohort), "--model", model)
    assert_one_line_error(r, str(model))


def test_traits_with_a_working_model_still_run(cli_cohort, cli_model):
    r = _invoke("traits", "--genotypes", _genotypes(cli_cohort), "--model", cli_model, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["people"]


def _out_under_file(tmp_path: Path) -> tuple[Path, Path]:
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("keep me\n")
    return blocker, blocker / "sub"


def test_out_under_a_file_predict(cli_cohort, cli_model, tmp_path):
    blocker, out = _out_under_file(tmp_path)
    r = _invoke("predict", "--model", cli_model, "--genotypes", _genotypes(cli_cohort), "--out", out)
    assert_one_line_error(r, "somefile.txt is a file, not a folder", "--out")
    assert blocker.read_text() == "keep me\n"
    _no_leftovers(tmp_path)


def test_out_under_a_file_train_and_match(cli_cohort, cli_model, tmp_path):
    blocker, out = _out_under_file(tmp_path)
    r = _invoke("train", "--cohort", cli_cohort, "--model", "mean", "--out", out / "deeper")
    assert_one_line_error(r, "somefile.txt is a file, not a folder")
    r = _invoke(
        "match", "--model", cli_model, "--genotypes", _genotypes(cli_cohort), "--faces", cli_cohort, "--out", out
    )
    assert_one_line_error(r, "somefile.txt is a file, not a folder")
    assert blocker.read_text() == "keep me\n"
    _no_leftovers(tmp_path)


def test_out_under_a_file_evaluate_and_audit(cli_cohort, cli_model, tmp_path):
    blocker, out = _out_under_file(tmp_path)
    r = _invoke("evaluate", "--cohort", cli_cohort, "--models", "mean", "--out", out)
    assert_one_line_error(r, "somefile.txt is a file, not a folder")
    r = _invoke(
        "audit", "--genotypes", _genotypes(cli_cohort), "--candidates", cli_cohort, "--model", cli_model, "--out", out
    )
    assert_one_line_error(r, "somefile.txt is a file, not a folder")
    assert blocker.read_text() == "keep me\n"
    _no_leftovers(tmp_path)


def test_out_is_an_existing_folder_for_a_file_output(cli_cohort, cli_model, tmp_path):
    r = _invoke(
        "match", "--model", cli_model, "--genotypes", _genotypes(cli_cohort), "--faces", cli_cohort, "--out", tmp_path
    )
    assert_one_line_error(r, "is a folder")


def _edit_config(model: Path, edit: Callable[[dict], Any]) -> None:
    file = model / "model.json"
    config = json.loads(file.read_text())
    result = edit(config)
    file.write_text(json.dumps(config if result is None else result))


#: model.json edits that keep it valid JSON but give keys the wrong types or values.
WRONG_TYPES: dict[str, Callable[[dict], Any]] = {
    "root is a list": lambda c: [c],
    "root is a string": lambda c: "model",
    "format_version is text": lambda c: c.update(format_version="1"),
    "model is a list": lambda c: c.update(model=["demographic"]),
    "model is unknown": lambda c: c.update(model="nope"),
    "params is a list": lambda c: c.update(params=[1, 2]),
    "params is null": lambda c: c.update(params=None),
    "params has an unknown key": lambda c: c["params"].update(colour="blue"),
    "param of the wrong type": lambda c: c["params"].update(n_pcs="four"),
    "param is a bool": lambda c: c["params"].update(n_shape_components=True),
    "state is a list": lambda c: c.update(state=[]),
    "state is empty": lambda c: c.update(state={}),
    "state value too short": lambda c: c["state"].update(demographics_age_moments=[40.0]),
    "state value of text": lambda c: c["state"].update(demographics_age_moments=["forty", "ten"]),
    "state value null": lambda c: c["state"].update(demographics_bmi_moments=None),
    "state value nan": lambda c: c["state"].update(demographics_bmi_moments=[math.nan, math.nan]),
    "state value a dict": lambda c: c["state"].update(n_vertices={"a": 1}),
    "state wrong vertex count": lambda c: c["state"].update(n_vertices=7),
    "provenance is a list": lambda c: c.update(provenance=[]),
}


@pytest.mark.parametrize("damage", list(WRONG_TYPES))
def test_model_json_with_wrong_types_is_one_line_error_in_predict(cli_cohort, cli_model, tmp_path, damage):
    model = _copy_model(cli_model, tmp_path / "M")
    _edit_config(model, WRONG_TYPES[damage])
    out = tmp_path / "pred"
    r = _invoke("predict", "--model", model, "--genotypes", _genotypes(cli_cohort), "--out", out)
    assert_one_line_error(r, str(model))
    assert not out.exists()


def test_unexpected_exception_is_one_line_internal_error(monkeypatch, cli_cohort, cli_model, tmp_path):
    """The boundary's last resort: a bug gives one line (exit 70) naming the exception and where
    it was raised; --debug shows the traceback."""
    import genoface.usecases.predict as prediction

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for -: 'str' and 'float'")

    monkeypatch.setattr(prediction, "predict_to_folder", broken)
    args = ["predict", "--model", cli_model, "--genotypes", _genotypes(cli_cohort), "--out", tmp_path / "p"]
    r = _invoke(*args)
    assert r.exit_code == 70, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("internal error: TypeError: unsupported operand"), r.stderr
    assert "test_robust_readers.py:" in lines[0] and "--debug" in lines[0]
    r = _invoke("--debug", *args)
    assert isinstance(r.exception, TypeError)


def test_os_errors_are_one_line(monkeypatch, cli_cohort, cli_model, tmp_path):
    import genoface.usecases.predict as prediction

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/locked.vcf")

    monkeypatch.setattr(prediction, "predict_to_folder", denied)
    r = _invoke("predict", "--model", cli_model, "--genotypes", _genotypes(cli_cohort), "--out", tmp_path / "p")
    assert_one_line_error(r, "/data/locked.vcf: Permission denied")


def test_error_text_from_a_file_is_not_markup_and_stays_one_line(cli_cohort, tmp_path):
    """A value quoted from a damaged file ("[/]" is rich markup, a newline or an escape sequence
    would break the line) is printed as it is, on one line."""
    cohort = tmp_path / "cohort"
    shutil.copytree(cli_cohort, cohort, ignore=shutil.ignore_patterns(".genoface_cache"))
    lines = (cohort / "covariates.tsv").read_text().splitlines()
    fields = lines[1].split("\t")
    fields[1] = "[/]\x1b[31m"
    lines[1] = "\t".join(fields)
    (cohort / "covariates.tsv").write_text("\n".join(lines) + "\n")
    r = _invoke("train", "--cohort", cohort, "--model", "mean", "--out", tmp_path / "M")
    line = assert_one_line_error(r, "line 2", "sex")
    assert "[/]\\x1b[31m" in line and "\x1b" not in line


#: Damage to a cohort directory: `train` must answer each with one line, never a traceback.
COHORT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "cohort.json truncated": lambda d: os.truncate(d / "cohort.json", 10),
    "cohort.json is a list": lambda d: (d / "cohort.json").write_text("[1, 2]"),
    "cohort.json n is text": lambda d: (d / "cohort.json").write_text(
        json.dumps({**json.loads((d / "cohort.json").read_text()), "n": "sixty"})
    ),
    "covariates not UTF-8": lambda d: (d / "covariates.tsv").write_bytes(b"\xff\xfe\x00s\x00a"),
    "covariates CR line ends": lambda d: (d / "covariates.tsv").write_bytes(
        (d / "covariates.tsv").read_bytes().replace(b"\n", b"\r")
    ),
    "covariates spaces for tabs": lambda d: (d / "covariates.tsv").write_bytes(
        (d / "covariates.tsv").read_bytes().replace(b"\t", b" ")
    ),
    "covariates a folder": lambda d: ((d / "covariates.tsv").unlink(), (d / "covariates.tsv").mkdir()),
    "template truncated": lambda d: os.truncate(d / "template.ply", 200),
    "face truncated": lambda d: os.truncate(next((d / "faces").glob("*.ply")), 300),
    "face empty": lambda d: os.truncate(next((d / "faces").glob("*.ply")), 0),
    "face is text": lambda d: next((d / "faces").glob("*.ply")).write_text("not a mesh\n"),
    "genotypes truncated": lambda d: os.truncate(d / "genotypes.vcf.gz", 500),
    "genotypes empty": lambda d: os.truncate(d / "genotypes.vcf.gz", 0),
}


@pytest.mark.parametrize("damage", list(COHORT_DAMAGE))
def test_damaged_cohort_is_one_line_error_in_train(cli_cohort, tmp_path, damage):
    cohort = tmp_path / "cohort"
    shutil.copytree(cli_cohort, cohort, ignore=shutil.ignore_patterns(".genoface_cache"))
    COHORT_DAMAGE[damage](cohort)
    r = _invoke("train", "--cohort", cohort, "--model", "mean", "--out", tmp_path / "M")
    if damage == "covariates CR line ends":  # old Mac line ends are read as line ends
        assert r.exit_code == 0, r.output
        return
    assert_one_line_error(r, "cohort")
    assert not (tmp_path / "M").exists()


# ---- the pieces underneath: _fs, errors, model loading, meshes, covariates -----------------------------------


def test_one_line_messages():
    from genoface.core.errors import MAX_MESSAGE, one_line

    assert one_line("a\nb\r\nc \n\n d") == "a; b; c; d"
    assert one_line("x\x00y\x1b[31m\u202ez\tw") == "x\\x00y\\x1b[31m\\u202ez\\tw"
    long = one_line("line 2: age is " + "9" * HUGE + " for P1; write a number")
    assert len(long) < 600 and long.startswith("line 2: age is 999") and long.endswith("for P1; write a number")
    assert len(one_line("word " * HUGE)) <= MAX_MESSAGE + 60
    assert str(GenofaceError("two\nlines")) == "two; lines"


def test_one_line_is_linear_on_long_runs_of_blanks():
    import time

    from genoface.core.errors import one_line

    start = time.monotonic()
    for text in (" " * HUGE + "x", "a" + " " * HUGE + "\nb", "\t" * HUGE, ("x" * 256 + " ") * 4000):
        one_line(text)
    assert time.monotonic() - start < 2.0


def test_output_error_is_a_genoface_error_and_an_os_error(tmp_path):
    import errno

    from genoface.core.errors import OutputError
    from genoface.core.files import atomic_directory

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError) as info, atomic_directory(tmp_path / "f" / "sub"):
        pass
    assert isinstance(info.value, GenofaceError) and isinstance(info.value, OSError)
    assert info.value.errno in (errno.EEXIST, errno.ENOTDIR)
    assert "f is a file, not a folder" in str(info.value)


def test_atomic_directory_and_stream_under_a_file(tmp_path):
    from genoface.core.files import atomic_directory, atomic_stream, atomic_write_bytes

    (tmp_path / "f").write_text("x")
    for target in (tmp_path / "f" / "a", tmp_path / "f" / "a" / "b"):
        with pytest.raises(GenofaceError, match="is a file, not a folder"), atomic_directory(target):
            pass
        with pytest.raises(GenofaceError, match="is a file, not a folder"):
            atomic_write_bytes(target / "x.tsv", b"data")
    with pytest.raises(GenofaceError, match="is a folder"), atomic_stream(tmp_path):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_atomic_directory_leaves_nothing_on_error_and_replaces_a_file(tmp_path):
    from genoface.core.files import atomic_directory

    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out") as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "out").write_text("an old file")
    with atomic_directory(tmp_path / "out", overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert (tmp_path / "out" / "new.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_directory_refuses_to_replace_the_current_folder(tmp_path, monkeypatch):
    from genoface.core.files import atomic_directory

    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for target in (Path("."), tmp_path, tmp_path / "work"):
        with pytest.raises(GenofaceError, match="refusing to replace"), atomic_directory(target, overwrite=True):
            pass
    assert (tmp_path / "work").is_dir()


def test_full_disk_while_writing_is_an_output_error(tmp_path):
    import errno

    from genoface.core.errors import OutputError
    from genoface.core.files import atomic_directory, atomic_stream

    def fill(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(OutputError, match="No space left on device.*free some disk space"):
        with atomic_directory(tmp_path / "out") as tmp:
            fill(tmp / "weights.npz")
    with pytest.raises(OutputError, match="out.tsv: cannot be written"), atomic_stream(tmp_path / "out.tsv") as fh:
        fill(fh.name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent_is_an_output_error(tmp_path):
    from genoface.core.files import atomic_directory

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(GenofaceError, match="permission"), atomic_directory(locked / "out"):
            pass
    finally:
        locked.chmod(0o700)


def test_cohort_cache_still_tolerates_an_unwritable_place(tmp_path, monkeypatch):
    """write_cache catches OSError for a read-only cohort: OutputError must stay one."""
    import errno

    from genoface.cohort import write_cache
    from genoface.core.files import atomic_directory

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    assert write_cache(tmp_path, [], 1, arrays={}, tables={}) is False
    with pytest.raises(GenofaceError, match="Permission denied"), atomic_directory(tmp_path / "x"):
        pass


def _saved_model(tmp_path: Path, name: str = "demographic") -> Path:
    folder = tmp_path / f"model-{name}"
    for rel, data in seed_model(name).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


@pytest.mark.parametrize("size", [0, 1, 22, 100, 1000, -100, -1])
def test_truncated_weights_are_a_genoface_error(tmp_path, size):
    from genoface.models import FaceModel

    model = _saved_model(tmp_path)
    weights = model / "weights.npz"
    os.truncate(weights, weights.stat().st_size + size if size < 0 else size)
    with pytest.raises(GenofaceError, match=r"weights.npz: corrupt or unreadable model weights .*; retrain"):
        FaceModel.load(model)


def test_weights_with_a_pickled_object_are_refused_without_running_it(tmp_path):
    """An npz member holding a pickle (which could run code) is refused, and nothing runs."""
    import pickle
    import zipfile

    from genoface.models import FaceModel

    model = _saved_model(tmp_path)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (marker, "code ran"))

    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(model / "weights.npz", "a") as zf:
        zf.writestr("evil.npy", buf.getvalue())
    with pytest.raises(GenofaceError, match="weights.npz"):
        FaceModel.load(model)
    assert not marker.exists()
    pickle.dumps(GenofaceError("picklable"))  # errors cross process boundaries (xdist, multiprocessing)


@pytest.mark.parametrize("damage", list(WRONG_TYPES))
def test_model_json_with_wrong_types_is_a_genoface_error(tmp_path, damage):
    from genoface.models import FaceModel

    model = _saved_model(tmp_path)
    _edit_config(model, WRONG_TYPES[damage])
    with pytest.raises(GenofaceError, match=str(model)):
        FaceModel.load(model)


def test_model_json_not_utf8_or_too_deep(tmp_path):
    from genoface.models import FaceModel

    model = _saved_model(tmp_path)
    (model / "model.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(GenofaceError, match="not UTF-8"):
        FaceModel.load(model)
    (model / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GenofaceError, match="model.json"):
        FaceModel.load(model)


def test_models_saved_before_allele_frequencies_still_load(tmp_path):
    import zipfile

    from genoface.models import FaceModel

    model = _saved_model(tmp_path)
    with np.load(model / "weights.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != "_panel_af"}
    assert len(arrays) == len(zipfile.ZipFile(model / "weights.npz").namelist()) - 1
    np.savez_compressed(model / "weights.npz", **arrays)
    loaded = FaceModel.load(model)
    assert loaded.panel_["af"].isna().all()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_mesh_faces_outside_the_vertices_are_refused(tmp_path):
    from genoface.io import read_mesh

    head = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 2\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    )
    for face, index in (("3 0 1 8", "8"), ("3 0 1 -2", "-2")):
        with pytest.raises(GenofaceError, match=rf"face 2 refers to vertex index {index} .* the mesh has 3 vertices"):
            read_mesh(_write(tmp_path, "f.ply", (head + face + "\n").encode()))
    with pytest.raises(GenofaceError, match="f.obj"):
        read_mesh(_write(tmp_path, "f.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 9\n"))


def test_binary_ply_fast_path_checks_the_header_before_reading(tmp_path):
    from genoface.io import read_mesh_vertices

    good = seed_meshes()["binary.ply"]
    ref = _write(tmp_path, "ref.ply", good)
    head, _, rest = good.partition(b"end_header\n")
    for count, match in ((b"99999999999999", "truncated PLY"), (b"-5", "-5 vertices"), (b"twelve", "'twelve'")):
        bad = head.replace(b"element vertex 12", b"element vertex " + count) + b"end_header\n" + rest
        with pytest.raises(GenofaceError, match=match):
            read_mesh_vertices([ref, _write(tmp_path, "bad.ply", bad)])
    crlf = head.replace(b"\n", b"\r\n") + b"end_header\r\n" + rest
    assert read_mesh_vertices([ref, _write(tmp_path, "crlf.ply", crlf)]).shape == (2, 12, 3)


def test_covariates_line_ends_and_numbering(tmp_path):
    from genoface.io import read_covariates

    cr = SEED_COVARIATES.replace("\n", "\r").encode()
    assert len(read_covariates(_write(tmp_path, "cr.tsv", cr))) == 3
    # A form feed inside a field is not a line end: line numbers stay those of an editor.
    text = SEED_COVARIATES.replace("CEU", "C\x0cEU").replace("P3\tf", "P3\tx")
    with pytest.raises(GenofaceError, match=r"line 4: sex is 'x' for P3"):
        read_covariates(_write(tmp_path, "ff.tsv", text.encode()))
    text = "\n\n" + SEED_COVARIATES.replace("bmi", "weight")
    with pytest.raises(GenofaceError, match=r"line 3 lacks the column\(s\) bmi"):
        read_covariates(_write(tmp_path, "blank.tsv", text.encode()))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (SEED_COVARIATES.replace("\t", " ").encode(), "line 1: the header .* is not tab-separated"),
        (SEED_COVARIATES.replace("\t", ",").encode(), "not tab-separated"),
        (SEED_COVARIATES.encode("utf-16"), "UTF-16"),
        (SEED_COVARIATES.encode().replace(b"YRI", b"Y\xffI"), r"line 3: not UTF-8 text \(byte 0xff\)"),
        (SEED_COVARIATES.encode().replace(b"YRI", b"Y\x00I"), "line 3: a NUL byte"),
    ],
)
def test_covariates_errors_say_what_to_fix(tmp_path, data, match):
    from genoface.io import read_covariates

    with pytest.raises(GenofaceError, match=match):
        read_covariates(_write(tmp_path, "c.tsv", data))


def test_covariates_folder_instead_of_file(tmp_path):
    from genoface.io import read_covariates

    (tmp_path / "covariates.tsv").mkdir()
    with pytest.raises(GenofaceError, match="is a folder"):
        read_covariates(tmp_path / "covariates.tsv")


def test_check_output_fails_before_any_work(tmp_path):
    from genoface.core.files import check_output

    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    assert check_output(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output(tmp_path / "d", overwrite=True) == tmp_path / "d"
    with pytest.raises(GenofaceError, match="already exists"):
        check_output(tmp_path / "d")
    with pytest.raises(GenofaceError, match="f is a file, not a folder"):
        check_output(tmp_path / "f" / "a" / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]
