"""`genoface serve`'s API in process (FastAPI's TestClient): every genome format uploaded, the
answers equal the command line's, bad uploads refused with a JSON 4xx and nothing left behind,
the token rule, and concurrent requests."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import trimesh
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import write_23andme
from genoface.cli import app as cli
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.genetics import read_genotypes_on_panel
from genoface.io import GenotypeData, write_plink, write_vcf
from genoface.models import FaceModel
from genoface.server import ServerSettings, check_binding, create_app

runner = CliRunner()


def _client(root: Path, **settings) -> TestClient:
    models = [root / "lippert", root / "demographic", root / "bayes"]
    return TestClient(create_app(ServerSettings(models, root / "gallery", **settings)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(served):
    with _client(served[0]) as c:
        yield c


def _person_file(tmp_path: Path, cohort: Cohort, row: int, fmt: str) -> tuple[str, bytes]:
    """Person ``row`` of the cohort as an upload: (file name, bytes)."""
    one = cohort.subset(np.array([row]))
    if fmt == "23andme":
        write_23andme(tmp_path / "p.txt", cohort, row, np.ones(cohort.n_variants, dtype=bool))
        return "my genome.txt", (tmp_path / "p.txt").read_bytes()
    if fmt in ("vcf.gz", "bcf"):
        write_vcf(tmp_path / "p.vcf.gz", one.sample_ids, np.asarray(one.genotypes), one.variants)
        if fmt == "vcf.gz":
            return "person.vcf.gz", (tmp_path / "p.vcf.gz").read_bytes()
        import pysam

        with pysam.VariantFile(str(tmp_path / "p.vcf.gz")) as src:
            with pysam.VariantFile(str(tmp_path / "p.bcf"), "wb", header=src.header) as dst:
                for record in src:
                    dst.write(record)
        return "person.bcf", (tmp_path / "p.bcf").read_bytes()
    write_plink(tmp_path / "p", one.sample_ids, np.asarray(one.genotypes), one.variants)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for suffix in ("bed", "bim", "fam"):
            z.write(tmp_path / f"p.{suffix}", f"plink/person.{suffix}")
    return "person.zip", buffer.getvalue()


def _post(client, path: str, data: dict, upload: tuple[str, bytes] | None = None, **kw):
    files = None if upload is None else {"file": (upload[0], upload[1], "application/octet-stream")}
    return client.post(path, data=data, files=files, **kw)


def _expected_face(root: Path, cohort: Cohort, row: int, raw_data_file: bool = False) -> np.ndarray:
    """lippert's face for person ``row``; from a raw-data file the A/T and C/G SNPs are missing
    (such a file does not state its strand)."""
    model = FaceModel.load(root / "lippert")
    g = np.asarray(cohort.genotypes[row], dtype=np.int8).copy()
    if raw_data_file:
        g[(cohort.variants["ref"] + cohort.variants["alt"]).isin(["AT", "TA", "CG", "GC"]).to_numpy()] = -1
    return model.predict(GenotypeData(cohort.sample_ids[row : row + 1], g[None, :], cohort.variants))[0]


@pytest.mark.parametrize("fmt", ["23andme", "vcf.gz", "bcf", "plink-zip"])
def test_each_genome_format_gives_the_models_face(served, client, tmp_path, fmt):
    root, cohort = served
    row = 4
    upload = _person_file(tmp_path, cohort, row, fmt)
    upload_name = upload[0]
    r = _post(client, "/api/predict", {"model": "lippert"}, upload)
    assert r.status_code == 200, r.text
    body = r.json()
    face = np.asarray(body["faces"][0]).reshape(-1, 3)
    np.testing.assert_allclose(face, _expected_face(root, cohort, row, fmt == "23andme"), atol=2e-3)
    assert f"{upload_name}: " in body["allele_report"] and "variants matched" in body["allele_report"]
    assert len(body["difference_mm"][0]) == len(face)
    # A raw-data file names no person: it is known by the upload's name, as `genoface predict` names it.
    assert body["sample"] == ("my genome" if fmt == "23andme" else str(cohort.sample_ids[row]))


def test_traits_and_allele_report_are_the_command_lines(served, client, tmp_path):
    root, cohort = served
    upload = _person_file(tmp_path, cohort, 7, "23andme")
    (tmp_path / "person.txt").write_bytes(upload[1])
    body = _post(client, "/api/predict", {"model": "demographic"}, upload).json()
    said = runner.invoke(
        cli, ["traits", "--genotypes", str(tmp_path / "person.txt"), "--model", str(root / "demographic"), "--json"]
    )
    assert said.exit_code == 0, said.output
    expected = json.loads(said.output)["people"][0]
    assert body["traits"] | {"sample_id": None} == expected | {"sample_id": None}
    # The allele-match line `genoface predict` prints, naming the upload by its own name.
    _, report = read_genotypes_on_panel(tmp_path / "person.txt", FaceModel.load(root / "demographic").panel_)
    report.source = "my genome.txt"
    assert body["allele_report"] == f"alleles: {report.summary()}; what is not matched is treated as missing"


def test_cohort_samples_covariates_and_draws(served, client):
    root, cohort = served
    sid = str(cohort.sample_ids[2])
    young = _post(client, "/api/predict", {"model": "lippert", "sample": sid, "age": "20", "sex": "F"}).json()
    old = _post(client, "/api/predict", {"model": "lippert", "sample": sid, "age": "80", "sex": "F"}).json()
    assert young["sample"] == sid and young["covariates"]["age"] == 20.0 and young["covariates"]["sex"] == "F"
    # lippert's covariate setting takes age and BMI together: the BMI not given is the training mean
    assert young["covariates"]["assumed"] == ["bmi"] and 15 < young["covariates"]["bmi"] < 40
    assert np.abs(np.subtract(young["faces"][0], old["faces"][0])).max() > 0.1  # the age projection moves it
    drawn = _post(client, "/api/predict", {"model": "bayes", "sample": sid, "n_faces": "3"}).json()
    assert len(drawn["faces"]) == 3 and np.abs(np.subtract(drawn["faces"][0], drawn["faces"][1])).max() > 0.01
    one = _post(client, "/api/predict", {"model": "lippert", "sample": sid, "n_faces": "2"})
    assert one.status_code == 400 and "cannot draw 2" in one.json()["error"]
    models = client.get("/api/models").json()
    assert {m["name"]: m["samples"] for m in models["models"]} == {
        "lippert": False,
        "demographic": False,
        "bayes": True,
    }
    assert models["cohort"]["sample_ids"] == [str(s) for s in cohort.sample_ids]
    template = client.get("/api/models/lippert/template").json()
    assert len(template["mean"]) == 3 * cohort.n_vertices and len(template["triangles"]) % 3 == 0


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb", "png"])
def test_downloads(served, client, fmt):
    root, cohort = served
    sid = str(cohort.sample_ids[1])
    r = _post(client, "/api/predict", {"model": "lippert", "sample": sid, "format": fmt})
    assert r.status_code == 200, r.text
    assert f'filename="{sid}.{fmt}"' in r.headers["content-disposition"]
    if fmt == "png":
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
        return
    mesh = trimesh.load(io.BytesIO(r.content), file_type=fmt, force="mesh", process=False)
    np.testing.assert_allclose(mesh.vertices, _expected_face(root, cohort, 1), atol=1e-3)


def test_a_download_is_named_after_the_person_read(served, client, tmp_path):
    root, cohort = served
    upload = _person_file(tmp_path, cohort, 2, "vcf.gz")
    r = _post(client, "/api/predict", {"model": "lippert", "format": "obj"}, upload)
    assert f'filename="{cohort.sample_ids[2]}.obj"' in r.headers["content-disposition"]
    raw = _person_file(tmp_path, cohort, 2, "23andme")
    r = _post(client, "/api/predict", {"model": "lippert", "format": "ply"}, raw)
    assert 'filename="my_genome.ply"' in r.headers["content-disposition"]


def test_match_ranks_as_the_command_line(served, client, tmp_path):
    root, cohort = served
    row = 9
    sid = str(cohort.sample_ids[row])
    body = _post(client, "/api/match", {"model": "lippert", "sample": sid, "top": "60"}).json()
    assert body["n_faces"] == 60 and body["demographic_model"] == "demographic"
    ranks = [c["rank"] for c in body["candidates"]]
    assert ranks == sorted(ranks) and sum(c["own"] for c in body["candidates"]) == 1
    write_vcf(tmp_path / "g.vcf.gz", cohort.sample_ids, np.asarray(cohort.genotypes), cohort.variants)
    args = ["match", "--model", str(root / "lippert"), "--genotypes", str(tmp_path / "g.vcf.gz")]
    r = runner.invoke(cli, [*args, "--faces", str(root / "gallery"), "--out", str(tmp_path / "ranks.tsv")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "ranks.tsv", sep="\t", dtype={"genome": str, "face": str})
    own = table[(table["genome"] == sid) & (table["face"] == sid)]["rank"].iloc[0]
    assert body["own_rank"] == own
    assert 1 <= body["own_demographic_rank"] <= 60
    png = client.get(f"/api/faces/{sid}.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


@pytest.fixture
def uploads_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary folder of this test's own for the server's uploads: under pytest-xdist another
    worker's server may hold an upload in the shared one at any moment."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("genoface-upload-*")}


def test_bad_requests_get_one_line_json_4xx_and_leave_nothing(served, client, tmp_path, uploads_tmp):
    root, cohort = served
    assert not _leftovers()
    name, good = _person_file(tmp_path, cohort, 3, "vcf.gz")
    cases = [
        ({"model": "lippert"}, ("person.vcf.gz", good[: len(good) // 2]), 400),  # truncated
        ({"model": "lippert"}, ("person.vcf", b"\x89PNG\r\n\x1a\n not a genome"), 400),  # wrong format
        ({"model": "lippert"}, ("genome.exe", good), 400),  # unknown kind of file
        ({"model": "lippert"}, ("empty.vcf", b""), 400),
        ({"model": "nope"}, (name, good), 404),
        ({"model": "lippert", "sample": "NOBODY"}, None, 404),
        ({"model": "lippert", "sample": str(cohort.sample_ids[0])}, (name, good), 400),  # both
        ({"model": "lippert"}, None, 400),  # neither
        ({"model": "lippert", "sample": str(cohort.sample_ids[0]), "age": "old"}, None, 400),
        ({"model": "lippert", "sample": str(cohort.sample_ids[0]), "format": "stl"}, None, 400),
        ({"sample": str(cohort.sample_ids[0])}, None, 422),  # no model
    ]
    for data, upload, status in cases:
        r = _post(client, "/api/predict", data, upload)
        assert r.status_code == status, (data, upload and upload[0], r.text)
        message = r.json()["error"]
        assert "\n" not in message and "Traceback" not in message and "genoface-upload" not in message and message
    assert client.get("/api/nothing").status_code == 404 and "error" in client.get("/api/nothing").json()
    assert not _leftovers()


def test_hostile_names_never_reach_the_file_system(served, client, tmp_path, uploads_tmp):
    root, cohort = served
    assert not _leftovers()
    _, good = _person_file(tmp_path, cohort, 3, "vcf.gz")
    outside = Path(tempfile.gettempdir()) / "evil.vcf.gz"
    r = _post(client, "/api/predict", {"model": "lippert"}, ("../../" + outside.name, good))
    assert r.status_code == 200 and not outside.exists()
    write_plink(tmp_path / "p", cohort.sample_ids[:1], np.asarray(cohort.genotypes[:1]), cohort.variants)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        for suffix in ("bed", "bim", "fam"):
            z.write(tmp_path / f"p.{suffix}", f"../../../escaped.{suffix}")
    r = _post(client, "/api/predict", {"model": "lippert"}, ("p.zip", evil.getvalue()))
    assert r.status_code == 200, r.text
    assert not any((Path(tempfile.gettempdir()).parent / f"escaped.{s}").exists() for s in ("bed", "bim", "fam"))
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.bed", b"x")
        z.writestr("b.bed", b"x")
    r = _post(client, "/api/predict", {"model": "lippert"}, ("p.zip", two.getvalue()))
    assert r.status_code == 400 and "exactly one .bed" in r.json()["error"]
    assert not any(uploads_tmp.iterdir())
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(("evil", "escaped"))]


def test_oversize_uploads_are_refused(served, tmp_path):
    root, cohort = served
    _, good = _person_file(tmp_path, cohort, 3, "vcf.gz")
    with _client(root, max_upload_mb=len(good) / 2e6) as small:
        r = _post(small, "/api/predict", {"model": "lippert"}, ("person.vcf.gz", good))
        assert r.status_code == 413 and "limit" in r.json()["error"]

        def chunks():  # no Content-Length: counted as it arrives
            yield b"x" * len(good)

        r = small.post("/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413


def test_the_token_rule(served):
    root, cohort = served
    with _client(root, token="s3cret") as guarded:
        assert guarded.get("/api/models").status_code == 401
        assert guarded.get("/api/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert guarded.get("/api/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = guarded.get("/?token=s3cret")
        assert page.status_code == 200 and "genoface_token" in page.headers.get("set-cookie", "")
        assert guarded.get("/api/models").status_code == 200  # the cookie now carries it
    with pytest.raises(GenofaceError, match="--token"):
        check_binding(ServerSettings([], host="0.0.0.0"))
    assert check_binding(ServerSettings([], host="0.0.0.0", token="t")) and not check_binding(ServerSettings([]))


def test_concurrent_requests_and_a_full_queue(served, tmp_path):
    root, cohort = served
    with _client(root, workers=2, queue=20) as c:
        sids = [str(s) for s in cohort.sample_ids[:5]]

        def one(i: int):
            return _post(c, "/api/predict", {"model": "lippert", "sample": sids[i % 5]})

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(one, range(30)))
        assert all(a.status_code == 200 for a in answers)
        for i, a in enumerate(answers):
            assert a.json()["sample"] == sids[i % 5]
            np.testing.assert_array_equal(a.json()["faces"], answers[i % 5].json()["faces"])
    with _client(root, workers=1, queue=0) as c:
        state, started, release = c.app.state.genoface, threading.Event(), threading.Event()
        slow = state.predict

        def held(*args):
            started.set()
            release.wait(30)
            return slow(*args)

        state.predict = held
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_post, c, "/api/predict", {"model": "lippert", "sample": sids[0]})
            assert started.wait(30)
            busy = _post(c, "/api/predict", {"model": "lippert", "sample": sids[1]})
            release.set()
            assert busy.status_code == 503 and "busy" in busy.json()["error"]
            assert first.result().status_code == 200


def test_several_server_processes_answer_alike(served, client):
    """`genoface serve --processes 2`: uvicorn's processes, each with the models loaded, answer
    as the one-process server does."""
    root, cohort = served
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "genoface",
        "serve",
        "--model",
        str(root / "lippert"),
        "--cohort",
        str(root / "gallery"),
    ]
    server = subprocess.Popen([*cmd, "--port", str(port), "--processes", "2"], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
        sids = [str(s) for s in cohort.sample_ids[:4]]
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda s: httpx.post(f"{url}/api/predict", data={"model": "lippert", "sample": s}, timeout=60), sids
                )
            )
        for sid, answer in zip(sids, answers, strict=True):
            assert answer.status_code == 200, answer.text
            expected = _post(client, "/api/predict", {"model": "lippert", "sample": sid}).json()
            np.testing.assert_array_equal(answer.json()["faces"], expected["faces"])
        bad = httpx.post(f"{url}/api/predict", data={"model": "lippert", "sample": "NOBODY"}, timeout=60)
        assert bad.status_code == 404 and "NOBODY" in bad.json()["error"]
    finally:
        server.terminate()
        server.wait(30)
